"""Rebuild ``.dvc/plots/offline.html``: ``dvc plots show``'s page with Vega inside, for machines without internet.

    python -m src.tools.vendor_vega

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline every chart
stays an empty box. This page carries the three libraries' minified builds, taken from
their npm packages (``npm pack``, pinned below), and leaves out DVC's ``{scripts}``
placeholder so no CDN tag is added. ``.dvc/config`` points ``plots.html_template`` at it.
"""
from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

from src.core.atomic import write_text
from src.core.errors import PipelineError, stage_main

TEMPLATE = Path(__file__).resolve().parents[2] / ".dvc" / "plots" / "offline.html"
# The versions DVC's renderer targets (Vega 5, Vega-Lite 5, Vega-Embed 6), newest of each line.
LIBRARIES = (("vega", "5.33.1"), ("vega-lite", "5.23.0"), ("vega-embed", "6.29.0"))
HEAD = """<!DOCTYPE html>
<!-- dvc plots show's page with Vega, Vega-Lite and Vega-Embed inside, so the charts draw without
     network. Set in .dvc/config (plots.html_template); rebuilt by `python -m src.tools.vendor_vega`.
     The three libraries are BSD-3-Clause, copyright the University of Washington Interactive Data Lab. -->
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
"""
TAIL = """
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def minified_build(name: str, version: str, workdir: Path) -> str:
    """``build/<name>.min.js`` of the npm package ``name@version``."""
    proc = subprocess.run(["npm", "pack", f"{name}@{version}"], cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PipelineError(f"npm pack {name}@{version} failed: {proc.stderr.strip()[-500:]}")
    with tarfile.open(workdir / proc.stdout.strip().splitlines()[-1]) as tar:
        js = tar.extractfile(f"package/build/{name}.min.js").read().decode()
    if "</script" in js.lower() or "{plot_divs}" in js:
        raise PipelineError(f"{name}@{version}: its build cannot be inlined in a <script> element")
    return js


def page(scripts: list[tuple[str, str, str]]) -> str:
    tags = [f"    <!-- {name} {version} (BSD-3-Clause, the npm package's build/{name}.min.js) -->\n"
            f'    <script type="text/javascript">{js}</script>' for name, version, js in scripts]
    return HEAD + "\n".join(tags) + TAIL


@stage_main
def main(argv: list[str] | None = None) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        scripts = [(name, version, minified_build(name, version, Path(workdir))) for name, version in LIBRARIES]
    write_text(TEMPLATE, page(scripts))
    print(f"{TEMPLATE}: " + ", ".join(f"{name} {version}" for name, version, _ in scripts))


if __name__ == "__main__":
    main()
