"""Validation accuracy against training minutes: a recipe trained to several epoch budgets on this CPU.

    taskset -c 0 python -m benchmarks.time_to_accuracy --name short --profile short --epochs 2 4 8
    python -m benchmarks.time_to_accuracy --plot-only --names short long   # redraw from the committed runs

Each budget is one ``benchmarks.recipe_search`` run of the candidate with
``train.epochs`` set to it (the schedule decays to zero at the budget's end, as a real
run would), so the curve answers "what does N minutes of training buy", not "where was a
long run after N minutes". Runs already in the results file are reused; runs of the listed
candidates that differ in epochs only are one curve, whatever their names. The table and
the plot (``--plot``, default ``docs/time_to_accuracy.png``) show every candidate named
in ``--names`` (default: ``--name``) on every CPU that has runs of it: a curve per
(candidate, CPU), the seeds' mean with their range as bars, minutes as measured on that
CPU with the cores the run had.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
import pandas as pd  # noqa: E402

from benchmarks import recipe_search  # noqa: E402
from benchmarks.args import positive_int  # noqa: E402
from src.core.errors import ParamsError, stage_main  # noqa: E402

DEFAULT_PLOT = Path("docs/time_to_accuracy.png")


# How a run is executed, not what it trains (the first of them is also absent from rows older than it).
EXECUTION_KEYS = ("cluster_timeout_seconds", "strategy")


def recipe_key(row: dict) -> str:
    """A run's settings without its epoch budget: runs that differ in epochs only are points of one curve."""
    settings = copy.deepcopy(row["settings"])
    for key in ("epochs", *EXECUTION_KEYS):
        settings["train"].pop(key, None)
    return json.dumps({"variant": row["variant"], **settings}, sort_keys=True)


def curve_table(rows: list[dict], names: list[str]) -> pd.DataFrame:
    """Per (recipe, CPU, epochs): seeds, mean minutes and training img/s (a loaded machine shows as a lower
    rate), and the validation accuracy's mean, min and max.

    Runs of the listed candidates whose settings differ only in epochs make one curve, named after the
    first of them in ``names`` (a recipe searched under several candidate names is still one recipe).
    """
    chosen = [r for r in rows if r["name"] in names]
    if not chosen:
        raise ParamsError(f"no runs named {', '.join(names)} in the results; train them first (without --plot-only)")
    label = {}
    for row in sorted(chosen, key=lambda r: names.index(r["name"])):
        label.setdefault(recipe_key(row), row["name"])
    frame = pd.DataFrame(chosen)
    frame["name"] = [label[recipe_key(row)] for row in chosen]
    frame["cores"] = frame.get("cores", 1)
    grouped = frame.groupby(["name", "cpu", "cores", "epochs"])
    table = grouped.agg(seeds=("seed", "nunique"), minutes=("train_minutes", "mean"),
                        img_per_s=("train_img_per_s", "mean"),
                        val_accuracy=("val_accuracy_tta", "mean"), val_min=("val_accuracy_tta", "min"),
                        val_max=("val_accuracy_tta", "max"))
    return table.reset_index().sort_values(["name", "cpu", "cores", "minutes"])


def plot_curves(table: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, cpu, cores), curve in table.groupby(["name", "cpu", "cores"]):
        errors = [curve["val_accuracy"] - curve["val_min"], curve["val_max"] - curve["val_accuracy"]]
        ax.errorbar(curve["minutes"], curve["val_accuracy"], yerr=errors, marker="o", capsize=3,
                    label=f"{name} [{cpu}, {cores} core{'s' if cores > 1 else ''}]")
        for _, point in curve.iterrows():
            ax.annotate(f"{int(point['epochs'])} ep", (point["minutes"], point["val_accuracy"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("training minutes per run (log scale)")
    ax.set_ylabel("validation accuracy (test-time views)")
    ax.set_title("Time to accuracy (validation split; seeds' mean, bars: min-max)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No date or software version in the file: the same runs draw the same bytes.
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="the candidate to train at each budget")
    parser.add_argument("--names", nargs="+", help="candidates to tabulate and draw (default: --name)")
    parser.add_argument("--profile")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", default="original")
    parser.add_argument("--epochs", type=positive_int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--results", type=Path, default=recipe_search.DEFAULT_RESULTS)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    parser.add_argument("--plot-only", action="store_true", help="draw from the results file without training")
    args = parser.parse_args(argv)
    names = args.names or ([args.name] if args.name else None)
    if not names:
        parser.error("give --name (to train) or --names (to draw)")

    if not args.plot_only:
        if not args.name:
            parser.error("--name is required to train")
        profile = ["--profile", args.profile] if args.profile else []
        for epochs in sorted(args.epochs):
            overrides = [item for o in args.overrides + [f"train.epochs={epochs}"] for item in ("-S", o)]
            recipe_search.main(["--name", args.name, "--variant", args.variant, "--results", str(args.results),
                                "--seeds", *map(str, args.seeds), *profile, *overrides])
    table = curve_table(recipe_search.finished_runs(args.results), names)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    plot_curves(table, args.plot)
    print(f"time_to_accuracy: {args.plot}")


if __name__ == "__main__":
    main()
