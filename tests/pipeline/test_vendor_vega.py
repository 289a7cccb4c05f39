"""The offline plots page: DVC uses it, it carries the three Vega libraries and no CDN tag."""
from __future__ import annotations

import configparser

from src.tools.vendor_vega import LIBRARIES, TEMPLATE, page
from tests.conftest import ROOT


def test_dvc_config_points_plots_at_the_offline_page():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert ROOT / ".dvc" / config["plots"]["html_template"] == TEMPLATE


def test_the_page_inlines_every_library_and_keeps_dvcs_placeholders():
    text = TEMPLATE.read_text()
    for name, version in LIBRARIES:
        assert f"<!-- {name} {version} " in text
    assert "{plot_divs}" in text and "{refresh_tag}" in text
    # Without DVC's {scripts} placeholder DVC adds no CDN <script src=...> tag.
    assert "{scripts}" not in text and "<script src=" not in text


def test_the_page_is_what_the_builder_makes_of_the_committed_scripts():
    text = TEMPLATE.read_text()
    scripts = []
    for name, version in LIBRARIES:
        start = text.index(f"<!-- {name} {version} ")
        body = text.index('<script type="text/javascript">', start) + len('<script type="text/javascript">')
        scripts.append((name, version, text[body:text.index("</script>", body)]))
    assert page(scripts) == text
