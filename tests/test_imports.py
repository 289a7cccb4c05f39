"""The import graph keeps its layers: no import circles, and every import points down the layer order.

The layers, lowest first, are the ones docs/architecture.md describes. A package not placed
in ``LAYERS`` fails the test, so a new package has to be given its place.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.project_imports import PROJECT_PACKAGES, imported_modules, module_file

# Lowest first; packages on one line may not import each other.
LAYERS: list[set[str]] = [
    {"src.core"},                                  # failure policy, atomic writes, checked readers
    {"src.paths", "src.stats"},                    # run paths; statistics
    {"src.data"},                                  # CIFAR-10 sources, prepared arrays, input pipeline
    {"src.models"},                                # the ResNet family, attention kinds, saved models
    {"src.training", "src.evaluation", "src.explain"},  # fit; test-time prediction; heatmaps
    {"src.report"},                                # the comparison report and figures
    {"src.config"},                                # typed params and profiles, read from the registries
    {"src.stages", "src.tools"},                   # entry points
    {"benchmarks"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The layer a module belongs to: ``src.<package>`` (or ``src.<module>``), or a top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "src" else parts[0]


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (empty package markers left out: they hold no code)."""
    files = [path for package in PROJECT_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    graph = {}
    for path in files:
        targets = {name for name in imported_modules(path) if module_file(name) is not None}
        module = module_name(path)
        # A module's own packages are already loading when it runs (`from src.models.fast import attention`
        # inside src/models/fast/): naming them is not an import of something else.
        own_packages = {".".join(module.split(".")[:depth]) for depth in range(1, module.count(".") + 2)}
        graph[module] = {name for name in targets - own_packages if module_file(name).stat().st_size > 0}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from src.models import attention\n    import src.core.errors\n")
    assert {"src.models.attention", "src.core.errors"} <= imported_modules(source)


def test_circles_are_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(component) for component in found)


def test_every_package_has_a_layer():
    unplaced = sorted({package_of(module) for module in import_graph()} - set(RANK) - {"src"})
    assert not unplaced, f"packages with no place in LAYERS (tests/test_imports.py, docs/architecture.md): {unplaced}"


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_imports_point_down_the_layers(module):
    own = package_of(module)
    upward = sorted(target for target in import_graph()[module]
                    if package_of(target) != own and package_of(target) in RANK and own in RANK
                    and RANK[package_of(target)] >= RANK[own])
    assert not upward, f"{module} ({own}) imports from the same or a higher layer: {upward}"
