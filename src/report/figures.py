"""The compare stage's figures and plot data: per-seed accuracy, curves over seeds, CAM curves, per-class accuracy.

The CSV/TSV files are what `dvc plots show` draws (dvc.yaml's top-level ``plots``); each
holds every variant in a ``variant`` column, which the project's templates in .dvc/plots/
(``strip``, ``band``, ``confusion_by_variant``, ``bars_by_variant``, ``lines_by_variant``)
split into points, lines or panels. The PNGs are the same views for a reader of the repository.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from src.explain.results import load_predictions  # noqa: E402
from src.models.variants import title  # noqa: E402
from src.report.inputs import read_curve  # noqa: E402
from src.report.tables import Study  # noqa: E402

# The per-epoch curves compare aggregates over seeds: file name -> (dvclive split, metric, axis label).
CURVES = {
    "val_accuracy": ("eval", "accuracy", "validation accuracy"),
    "val_loss": ("eval", "loss", "validation loss"),
    "train_loss": ("train", "loss", "training loss"),
    "epoch_seconds": ("time", "train_seconds", "seconds of training per epoch"),
}


def curve_bands(study: Study, split: str, metric: str) -> pd.DataFrame:
    """Per variant and epoch (1-based): the mean over seeds and the min-max band."""
    frames = []
    for variant in study.variants:
        per_seed = pd.concat([read_curve(run, split, metric).set_index("step")[metric].rename(run.seed)
                              for run in study.runs(variant)], axis=1)
        frames.append(pd.DataFrame({"variant": title(variant), "epoch": per_seed.index + 1,
                                    "mean": per_seed.mean(axis=1), "min": per_seed.min(axis=1),
                                    "max": per_seed.max(axis=1), "seeds": per_seed.count(axis=1)}))
    return pd.concat(frames, ignore_index=True)


def write_plot_data(studies: dict[str, Study], runs: dict[str, pd.DataFrame],
                    cam_curves: dict[str, dict[str, pd.DataFrame]], out: Path, label_regimes: bool = False) -> None:
    """The files behind the dvc.yaml plots, each one table with a ``variant`` column (the variant's title,
    followed by its regime in brackets with ``label_regimes``), for every regime of ``studies``.

    Per-seed test accuracy, the curve bands, the confusion counts pooled over seeds, per-class accuracy
    and the chosen heatmaps' deletion/insertion curves: one file per view, whatever the variants and
    regimes, so dvc.yaml names neither.
    """
    def labelled(frame: pd.DataFrame, regime: str) -> pd.DataFrame:
        return frame.assign(variant=frame["variant"] + f" ({regime})") if label_regimes else frame

    def each(views) -> pd.DataFrame:
        return pd.concat([labelled(views(regime, study), regime) for regime, study in studies.items()],
                         ignore_index=True)

    each(lambda regime, _: pd.DataFrame({"variant": runs[regime]["variant"].map(title), "seed": runs[regime]["seed"],
                                         "test_accuracy": runs[regime]["test_accuracy"]})
         ).to_csv(out / "test_accuracy.csv", index=False)
    (out / "curves").mkdir()
    for name, (split, metric, _) in CURVES.items():
        each(lambda _, study: curve_bands(study, split, metric)).round(6).to_csv(out / "curves" / f"{name}.csv",
                                                                                  index=False)
    each(lambda _, study: confusion_table(study)).to_csv(out / "confusion.csv", index=False)
    each(lambda _, study: per_class_table(study)).to_csv(out / "per_class.csv", index=False)
    each(lambda regime, _: pd.concat([curve.assign(variant=title(variant))[["variant", *curve.columns]]
                                      for variant, curve in cam_curves[regime].items()])
         ).to_csv(out / "cam_curves.tsv", sep="\t", index=False)


def confusion_counts(actual: np.ndarray, predicted: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Images of each (actual, predicted) pair of class names, every pair listed (zeros too), actual-major."""
    table = pd.crosstab(pd.Categorical(actual, classes), pd.Categorical(predicted, classes), dropna=False)
    return pd.DataFrame({"actual": np.repeat(classes, len(classes)), "predicted": np.tile(classes, len(classes)),
                         "count": table.loc[classes, classes].to_numpy().ravel()})


def confusion_table(study: Study) -> pd.DataFrame:
    """Per variant, its confusion counts pooled over its runs."""
    frames = []
    for variant in study.variants:
        classes = list(study.test[study.runs(variant)[0]]["per_class_accuracy"])
        actual, predicted = [], []
        for run in study.runs(variant):
            probs, labels = load_predictions(run)
            actual.append(labels)
            predicted.append(probs.argmax(axis=1))
        names = np.asarray(classes)
        counts = confusion_counts(names[np.concatenate(actual)], names[np.concatenate(predicted)], classes)
        frames.append(counts.assign(variant=title(variant))[["variant", *counts.columns]])
    return pd.concat(frames, ignore_index=True)


def per_class_table(study: Study) -> pd.DataFrame:
    """Per variant and class, the test accuracy averaged over the variant's runs."""
    frames = []
    for variant in study.variants:
        classes = list(study.test[study.runs(variant)[0]]["per_class_accuracy"])
        per_class = pd.DataFrame([study.test[r]["per_class_accuracy"] for r in study.runs(variant)])
        frames.append(pd.DataFrame({"variant": title(variant), "class": classes,
                                    "accuracy": per_class[classes].mean().round(6).to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def plot_seed_accuracy(runs: pd.DataFrame, path: Path) -> None:
    """Test accuracy of every run, one column per variant, with the mean as a bar."""
    variants = list(dict.fromkeys(runs["variant"]))
    fig, ax = plt.subplots(figsize=(1.8 * len(variants) + 2, 4))
    for i, variant in enumerate(variants):
        values = runs.loc[runs["variant"] == variant, "test_accuracy"].to_numpy()
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(i + offsets, values, s=28, zorder=3, label=None)
        ax.hlines(values.mean(), i - 0.25, i + 0.25, color="black", linewidth=2, zorder=4)
    ax.set_xticks(range(len(variants)), [title(v) for v in variants])
    ax.set_ylabel("test accuracy")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Test accuracy per training seed (bar: mean)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(study: Study, path: Path) -> None:
    """Validation accuracy and loss per epoch: the mean over seeds, with the min-max band shaded."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name in zip(axes, ("val_accuracy", "val_loss")):
        split, metric, label = CURVES[name]
        bands = curve_bands(study, split, metric)
        for variant in study.variants:
            band = bands[bands["variant"] == title(variant)]
            line, = ax.plot(band["epoch"], band["mean"], marker="o", markersize=3, label=title(variant))
            ax.fill_between(band["epoch"], band["min"], band["max"], color=line.get_color(), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Validation curves over {len(study.seeds)} training seed(s): mean, min-max band")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cam_curves(curves: dict[str, pd.DataFrame], path: Path) -> None:
    """Deletion and insertion curves of each variant's heatmap; random baseline dashed, edges dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
    colours = dict(zip(curves, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for col, kind in enumerate(("deletion", "insertion")):
        ax = axes[0, col]
        for variant, curve in curves.items():
            label = title(variant)
            ax.plot(curve["fraction"], curve[kind], color=colours[variant], label=f"{label} heatmap")
            ax.plot(curve["fraction"], curve[f"random_{kind}"], color=colours[variant], linestyle="--",
                    alpha=0.6, label=f"{label} random")
            ax.plot(curve["fraction"], curve[f"edge_{kind}"], color=colours[variant], linestyle=":",
                    alpha=0.6, label=f"{label} edges")
        better = "lower" if kind == "deletion" else "higher"
        ax.set_title(f"{kind} ({better} area is better)", fontsize=10)
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}, most important first")
        ax.set_ylabel("probability of the predicted class")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_class(study: Study, path: Path) -> None:
    """Grouped bars: mean test accuracy of every class over the seeds, one colour per variant."""
    table = {}
    for variant in study.variants:
        per_class = pd.DataFrame([study.test[r]["per_class_accuracy"] for r in study.runs(variant)])
        table[title(variant)] = per_class.mean()
    frame = pd.DataFrame(table)
    ax = frame.plot.bar(figsize=(10, 4), width=0.8)
    ax.set_ylabel(f"test accuracy (mean of {len(study.seeds)} seed(s))")
    ax.set_xlabel("class")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Per-class test accuracy")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
