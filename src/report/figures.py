"""The compare stage's figures: validation curves, deletion/insertion curves and per-class accuracy, variants in colour."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.errors import DataError  # noqa: E402
from src.models.variants import title  # noqa: E402
from src.paths import TEST_METRICS_DIR, train_curve  # noqa: E402
from src.report.tables import read_json  # noqa: E402


def read_curve(variant: str, split: str, metric: str) -> pd.DataFrame:
    path = train_curve(variant, split, metric)
    try:
        return pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read training curve ({exc}); run `dvc repro train@{variant}`") from None


def plot_curves(variants: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for variant in variants:
        for ax, metric in zip(axes, ("accuracy", "loss")):
            curve = read_curve(variant, "eval", metric)
            ax.plot(curve["step"] + 1, curve[metric], marker="o", markersize=3, label=title(variant))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Validation curves (held-out split of the training set)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cam_curves(variants: list[str], methods: list[str], path: Path) -> None:
    """Deletion and insertion curves per method, one colour per variant; random baseline dashed, edges dotted."""
    fig, axes = plt.subplots(len(methods), 2, figsize=(10, 3.6 * len(methods)), squeeze=False)
    colours = dict(zip(variants, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for row, method in enumerate(methods):
        for col, kind in enumerate(("deletion", "insertion")):
            ax = axes[row, col]
            for variant in variants:
                path_tsv = Path("plots/cam_curves") / method / f"{variant}.tsv"
                try:
                    curve = pd.read_csv(path_tsv, sep="\t")
                except (OSError, ValueError) as exc:
                    raise DataError(f"{path_tsv}: cannot read ({exc}); run `dvc repro gradcam`") from None
                label = title(variant)
                ax.plot(curve["fraction"], curve[kind], color=colours[variant], label=f"{label} {method}")
                ax.plot(curve["fraction"], curve[f"random_{kind}"], color=colours[variant], linestyle="--",
                        alpha=0.6, label=f"{label} random")
                ax.plot(curve["fraction"], curve[f"edge_{kind}"], color=colours[variant], linestyle=":",
                        alpha=0.6, label=f"{label} edges")
            better = "lower" if kind == "deletion" else "higher"
            ax.set_title(f"{method}: {kind} ({better} area is better)", fontsize=10)
            ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}, most important first")
            ax.set_ylabel("probability of the predicted class")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_class(variants: list[str], path: Path) -> None:
    """Grouped bars: test accuracy of every class, one colour per variant."""
    per_class = {v: read_json(TEST_METRICS_DIR / f"{v}.json")["per_class_accuracy"] for v in variants}
    classes = list(next(iter(per_class.values())))
    table = pd.DataFrame({title(v): [per_class[v][c] for c in classes] for v in variants}, index=classes)
    ax = table.plot.bar(figsize=(10, 4), width=0.8)
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("class")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Per-class test accuracy")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
