"""Stage compare: one table of every variant's accuracy and cost, and their validation curves.

Writes
- metrics/compare/<variant>.json  one row per variant (the DVC metrics of the project, so
                           `dvc metrics show` prints the variants side by side): test accuracy/loss,
                           params, training minutes, img/s, and the difference from Original
- metrics/comparison.md    the same table for people
- plots/compare/val_curves.png   the variants' validation accuracy and loss, overlaid
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.atomic import atomic_path, write_json, write_text  # noqa: E402
from pipeline.errors import DataError, stage_main  # noqa: E402
from pipeline.params import load_params  # noqa: E402

BASELINE = "original"
TITLES = {"original": "Original", "se": "SE", "cbam": "CBAM"}


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); run `dvc repro` for the stage that writes it") from None


def read_curve(variant: str, split: str, metric: str) -> pd.DataFrame:
    path = Path("plots/train") / variant / "plots" / "metrics" / split / f"{metric}.tsv"
    try:
        return pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read training curve ({exc}); run `dvc repro train_{variant}`") from None


def comparison_table(variants: list[str]) -> pd.DataFrame:
    """One row per variant; deltas are relative to Original when it was trained."""
    rows = []
    for variant in variants:
        train = read_json(Path("metrics/train") / f"{variant}.json")
        test = read_json(Path("metrics/test") / f"{variant}.json")
        rows.append({
            "variant": variant,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "best_val_accuracy": train["best_val_accuracy"],
            "params": train["params"],
            "epochs": train["epochs"],
            "train_minutes": train["train_minutes"],
            "train_img_per_s": train["train_img_per_s"],
            "inference_img_per_s": test["inference_img_per_s"],
        })
    table = pd.DataFrame(rows).set_index("variant")
    if BASELINE in table.index:
        base = table.loc[BASELINE]
        table["accuracy_vs_original"] = table["test_accuracy"] - base["test_accuracy"]
        table["params_vs_original"] = table["params"] / base["params"]
        table["train_speed_vs_original"] = table["train_img_per_s"] / base["train_img_per_s"]
    return table


def to_markdown(table: pd.DataFrame, profile: str) -> str:
    shown = table.rename(index=lambda v: TITLES.get(v, v)).copy()
    fmt = {"test_accuracy": "{:.4f}", "test_loss": "{:.4f}", "best_val_accuracy": "{:.4f}", "params": "{:,}",
           "train_minutes": "{:.1f}", "train_img_per_s": "{:.0f}", "inference_img_per_s": "{:.0f}",
           "accuracy_vs_original": "{:+.4f}", "params_vs_original": "{:.3f}x", "train_speed_vs_original": "{:.2f}x"}
    for column, pattern in fmt.items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, p=pattern: p.format(v))
    return (f"# Variant comparison (profile `{profile}`)\n\n"
            "Test accuracy on the held-out CIFAR-10 test set; speeds measured on the training machine.\n\n"
            + shown.to_markdown(disable_numparse=True) + "\n")


def plot_curves(variants: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for variant in variants:
        for ax, metric in zip(axes, ("accuracy", "loss")):
            curve = read_curve(variant, "eval", metric)
            ax.plot(curve["step"] + 1, curve[metric], marker="o", markersize=3, label=TITLES.get(variant, variant))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Validation curves (held-out split of the training set)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    variants = params["train"]["variants"]

    table = comparison_table(variants)
    with atomic_path("metrics/compare", is_dir=True) as out:
        for variant, row in table.round(6).to_dict(orient="index").items():
            write_json(out / f"{variant}.json", {k: (None if pd.isna(x) else x) for k, x in row.items()})
    write_text("metrics/comparison.md", to_markdown(table, params["profile"]))
    with atomic_path("plots/compare/val_curves.png") as tmp:
        plot_curves(variants, tmp)
    print(to_markdown(table, params["profile"]))


if __name__ == "__main__":
    main()
