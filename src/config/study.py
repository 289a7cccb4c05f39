"""Rewrite ``study.runs`` in params.yaml from ``study.variants`` x each regime's ``study.seeds``.

    python -m src.config.study                          # after editing study.seeds or study.variants
    python -m src.config.study --seeds short=0-29       # and set a regime's seeds first
    python -m src.config.study --variants original se   # or the variants

DVC makes one train@/evaluate@/heatmaps@ stage per entry of ``study.runs`` (a mapping, because the
regimes may have different seeds and DVC's ``matrix`` only forms full products). The entries are
derived data: this command writes them, and every stage refuses params whose runs do not match.
Only ``study`` is rewritten; the rest of params.yaml keeps its text, comments included.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

from src.core.atomic import write_text
from src.core.errors import ParamsError, stage_main
from src.config.params import DEFAULT_PARAMS_FILE, VARIANTS, expand_runs, validate

STUDY_SECTION = re.compile(r"^study:\n(?:[ #].*\n|\n)*", re.MULTILINE)


def seed_range(text: str) -> tuple[str, list[int]]:
    """argparse type of ``--seeds``: REGIME=A-B (inclusive) or REGIME=A,B,C."""
    regime, _, spec = text.partition("=")
    try:
        if "-" in spec:
            first, last = (int(part) for part in spec.split("-"))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(part) for part in spec.split(",")]
    except ValueError:
        seeds = []
    if not regime or not seeds:
        raise argparse.ArgumentTypeError(f"{text!r} is not REGIME=FIRST-LAST or REGIME=S1,S2,...")
    return regime, seeds


def study_text(study: dict) -> str:
    """The ``study:`` section as params.yaml holds it: one line per run."""
    head = yaml.safe_dump({"study": {k: v for k, v in study.items() if k != "runs"}}, sort_keys=False,
                          default_flow_style=None)
    runs = "".join(f"    {name}: {{regime: {run['regime']}, variant: {run['variant']}, seed: {run['seed']}}}\n"
                   for name, run in study["runs"].items())
    return head + "  runs:  # written by `python -m src.config.study`: one train@/evaluate@/heatmaps@ stage each\n" + runs


def rewrite(path: str | Path, seeds: list[tuple[str, list[int]]] = (), variants: list[str] | None = None) -> dict:
    """Rewrite the study section of the params file at ``path`` (its other text unchanged); the new study."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: not found; create it with `python -m src.config.profile smoke` (or another)")
    text = path.read_text()
    params = yaml.safe_load(text)
    study = params.get("study") if isinstance(params, dict) else None
    if not isinstance(study, dict) or not STUDY_SECTION.search(text):
        raise ParamsError(f"{path}: no study: section at the start of a line; create the file with "
                          "`python -m src.config.profile NAME`")
    if variants:
        study["variants"] = variants
    for regime, regime_seeds in seeds:
        if regime not in study.get("regimes", {}):
            raise ParamsError(f"--seeds {regime}=...: {regime!r} is not in study.regimes of {path}")
        study.setdefault("seeds", {})[regime] = regime_seeds
    study["runs"] = expand_runs(study)
    validate(params, origin=str(path))
    write_text(path, STUDY_SECTION.sub(lambda _: study_text(study), text, count=1))
    return study


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE)
    parser.add_argument("--seeds", type=seed_range, nargs="+", default=[], metavar="REGIME=SEEDS",
                        help="set a regime's training seeds: short=0-19 or long=0,1,2")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), help="set the variants the study compares")
    args = parser.parse_args(argv)
    study = rewrite(args.params, args.seeds, args.variants)
    counts = ", ".join(f"{regime} {len(seeds)} seeds" for regime, seeds in study["seeds"].items())
    print(f"{args.params}: {len(study['runs'])} runs ({len(study['variants'])} variants; {counts}); run `dvc repro`")


if __name__ == "__main__":
    main()
