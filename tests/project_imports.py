"""Which project modules a file imports, read from its syntax tree (imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PROJECT_PACKAGES = ("src", "benchmarks")


def module_file(module: str) -> Path | None:
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules ``path`` imports anywhere (also inside functions), including `from pkg import module`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if module_file(f"{node.module}.{alias.name}"))
    return {name for name in found if name.split(".")[0] in PROJECT_PACKAGES}
