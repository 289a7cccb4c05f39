"""Fuzzing params.yaml: random mutations of a valid file never crash validation or a stage.

Strategies (Hypothesis): one to three mutations of the valid `smoke` params, each one of
- replace a value (any key, nested or top-level) with a random value of another type:
  integers from tiny to huge (beyond 2**64), floats including nan/inf/subnormal, numbers
  written as text ("1e-3", "0x10"), booleans, None, lists, mappings, unicode text;
- delete a key (a whole section, or one leaf);
- add an unknown key with a random value.
Properties: ``validate`` returns the params or raises ParamsError, nothing else (400
examples, in process); the real ``src.stages.download`` entry point given the mutated file (its
source a small local archive) either succeeds or exits 2 with one ``error:`` line and no
traceback, leaving its output as it was (60 examples, plus the unmutated file, which must
succeed). Every stage reads params through the same ``load_params`` first.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.core.errors import ParamsError
from src.config.params import validate
from src.config.profile import build_profile
from tests.conftest import assert_one_error_or_success, run_stage, snapshot

SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e-3", "0x10", "", "NaN", "true", "256", " 3 ", "\u00e9\u00e8"]),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """Every key path in ``tree``, sections and leaves."""
    found = []
    for key, value in tree.items():
        found.append(prefix + (key,))
        if isinstance(value, dict):
            found.extend(paths(value, prefix + (key,)))
    return found


@st.composite
def mutated_params(draw, base: dict | None = None) -> dict:
    params = copy.deepcopy(base or build_profile("smoke"))
    for _ in range(draw(st.integers(1, 3))):
        key_paths = paths(params)
        if not key_paths:
            break
        path = draw(st.sampled_from(key_paths))
        parent = params
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return params


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_params())
def test_validation_accepts_or_names_the_problem(params):
    try:
        validate(params)
    except ParamsError as exc:
        assert str(exc).strip()




@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    from tests.conftest import make_official_tarball

    return make_official_tarball(tmp_path_factory.mktemp("source") / "cifar-10-python.tar.gz")


def base_params(archive: Path) -> dict:
    params = build_profile("smoke")
    params["data"]["sources"] = [{"kind": "local", "path": str(archive), "sha256": ""}]
    return params


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_download_stage_succeeds_or_exits_2_with_one_error_line(archive, data):
    from src.stages import download

    params = data.draw(st.one_of(st.just(base_params(archive)), mutated_params(base_params(archive))))
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        out = work / "raw"
        out.mkdir()
        (out / "previous.txt").write_text("the output before the command")
        params_file = work / "params.yaml"
        params_file.write_text(yaml.safe_dump(params, allow_unicode=True))
        before = snapshot(work)
        code, stderr = run_stage(download.main, ["--params", str(params_file), "--out", str(out)])
        assert_one_error_or_success(code, stderr, before, snapshot(work))
        if code == 0:
            assert (out / "source.json").is_file() and not (out / "previous.txt").exists()


def test_the_unmutated_params_pass_the_download_stage(archive, tmp_path):
    from src.stages import download

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base_params(archive)))
    code, stderr = run_stage(download.main, ["--params", str(tmp_path / "params.yaml"), "--out",
                                             str(tmp_path / "raw")])
    assert code == 0, stderr
