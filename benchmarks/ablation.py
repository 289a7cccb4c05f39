"""The ablation table of a recipe: the full recipe against itself minus one lever at a time, on validation.

    python -m benchmarks.ablation --base levers-e5-bnbias32 \
        --ablations levers-e5-bnbias32-no-whiten levers-e5-bnbias32-no-ls ...

Reads the committed runs of ``benchmarks.recipe_search`` (docs/recipe/runs.jsonl), so a clone can
recompute the table without training. Each candidate is compared with the base on the training
seeds both have (runs with the same seed share the initial weights' draw and the data order, so
they are paired): the mean paired difference of the validation accuracy with test-time views,
its 95% t interval over seeds, the paired t-test and its Holm-adjusted p-value over the listed
ablations. What a candidate leaves out is read from the overrides it lacks against the base.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import recipe_search
from src.core.errors import ParamsError, stage_main
from src.stats.pvalue import holm
from src.stats.seeds import paired_t_test, t_interval

METRIC = "val_accuracy_tta"


def _by_seed(rows: list[dict], name: str, cpu: str | None) -> tuple[dict[int, float], dict]:
    found = [r for r in rows if r["name"] == name and (cpu is None or r["cpu"] == cpu)]
    if not found:
        raise ParamsError(f"no runs named {name!r}" + (f" on {cpu!r}" if cpu else "") + " in the results")
    seeds = [r["seed"] for r in found]
    if len(set(seeds)) < len(seeds):
        raise ParamsError(f"{name!r} has several runs of one training seed (on {', '.join(sorted({r['cpu'] for r in found}))}); "
                          "pick one CPU's runs with --cpu")
    return {r["seed"]: r[METRIC] for r in found}, found[0]


def _setting(settings: dict, dotted: str) -> object:
    node = settings
    for part in dotted.split("."):
        node = node[part]
    return node


def _instead(removed: list[str], row: dict) -> str:
    """What the candidate trained with in place of each override it lacks (the profile's value)."""
    keys = [override.split("=", 1)[0] for override in removed]
    return ", ".join(f"{key}={str(_setting(row['settings'], key)).lower()}" for key in keys)


def ablation_table(rows: list[dict], base: str, ablations: list[str], cpu: str | None = None) -> pd.DataFrame:
    """One row per ablation: what it leaves out, seeds, accuracies, paired difference, CI, p and Holm's p."""
    base_scores, base_row = _by_seed(rows, base, cpu)
    table = []
    for name in ablations:
        scores, row = _by_seed(rows, name, cpu)
        seeds = sorted(set(scores) & set(base_scores))
        if not seeds:
            raise ParamsError(f"{name!r} and {base!r} share no training seed; train both on the same seeds")
        removed = [o for o in base_row["overrides"] if o not in row["overrides"]]
        changed = [o for o in row["overrides"] if o not in base_row["overrides"]]
        differences = np.array([scores[s] - base_scores[s] for s in seeds])
        low, high = t_interval(differences)
        test = paired_t_test(np.array([scores[s] for s in seeds]), np.array([base_scores[s] for s in seeds]))
        table.append({"candidate": name, "leaves out": ", ".join(removed) or "(nothing)",
                      "instead": ", ".join(filter(None, [_instead(removed, row), *changed])),
                      "seeds": len(seeds), "val accuracy": float(np.mean([scores[s] for s in seeds])),
                      "full recipe": float(np.mean([base_scores[s] for s in seeds])),
                      "difference": float(differences.mean()), "ci_low": low, "ci_high": high,
                      "p": test.value, "p_reason": test.reason})
    for row, adjusted in zip(table, holm([row["p"] for row in table])):
        row["p_holm"] = adjusted
    return pd.DataFrame(table)


def markdown(table: pd.DataFrame) -> str:
    """The table as the docs show it: points and intervals in accuracy points (pt)."""
    def points(value: float) -> str:
        return "undefined" if np.isnan(value) else f"{100 * value:+.2f}"

    shown = pd.DataFrame({
        "without": table["leaves out"], "instead": table["instead"], "seeds": table["seeds"],
        "val accuracy": table["val accuracy"].map("{:.4f}".format),
        "full recipe, same seeds": table["full recipe"].map("{:.4f}".format),
        "difference, pt [95% CI]": [f"{points(d)} [{points(lo)}, {points(hi)}]"
                                    for d, lo, hi in zip(table["difference"], table["ci_low"], table["ci_high"])],
        "p (paired t)": [f"{p:.3g}" if p is not None else reason for p, reason in zip(table["p"], table["p_reason"])],
        "p, Holm": [f"{p:.3g}" if p is not None else "—" for p in table["p_holm"]],
    })
    return shown.to_markdown(index=False)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the full recipe's candidate name")
    parser.add_argument("--ablations", nargs="+", required=True, help="candidates that leave one lever out")
    parser.add_argument("--cpu", help="only runs on this CPU (as recorded in the results)")
    parser.add_argument("--results", type=Path, default=recipe_search.DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    print(markdown(ablation_table(recipe_search.finished_runs(args.results), args.base, args.ablations, args.cpu)))


if __name__ == "__main__":
    main()
