"""Stage compare: accuracy with uncertainty, paired significance tests, cost and CAM quality in one place.

Writes
- metrics/compare/<variant>.json  one row per variant -- the project's DVC metrics, so
    `dvc metrics show` prints the variants side by side: test accuracy with its 95% bootstrap
    interval, loss, params, MFLOPs, training minutes, img/s, the CAM faithfulness scores, and
    the difference from Original with McNemar's p-value
- metrics/comparison.md           the report for people: tables, every pairwise McNemar test,
    which differences are significant, and whether each CAM beats random heatmaps
- plots/compare/val_curves.png    the variants' validation accuracy and loss, overlaid
- plots/compare/cam_curves.png    deletion/insertion curves per method, variants in colour, random dashed
- plots/compare/per_class.png     per-class test accuracy, variants side by side
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.atomic import atomic_path, write_json, write_text  # noqa: E402
from pipeline.errors import DataError, stage_main  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from src.explain.results import VARIANT_TITLES, load_predictions  # noqa: E402
from src.explain.significance import bootstrap_accuracy_ci, describe_p, mcnemar  # noqa: E402

BASELINE = "original"
CAM_KEYS = ("deletion_auc", "insertion_auc", "average_drop", "increase_in_confidence")
ALPHA = 0.05


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


def correctness(variants: list[str]) -> dict[str, np.ndarray]:
    """Per test image, whether each variant's top class is right."""
    result = {}
    for variant in variants:
        probs, labels = load_predictions(variant)
        result[variant] = probs.argmax(axis=1) == labels
    return result


def comparison_table(correct: dict[str, np.ndarray], methods: list[str], seed: int) -> pd.DataFrame:
    """One row per variant; deltas and p-values are against Original when it was trained."""
    rows, variants = [], list(correct)
    for variant in variants:
        train = read_json(Path("metrics/train") / f"{variant}.json")
        test = read_json(Path("metrics/test") / f"{variant}.json")
        cam = read_json(Path("metrics/cam") / f"{variant}.json")
        low, high = bootstrap_accuracy_ci(correct[variant], seed=seed)
        row = {
            "variant": variant, "test_accuracy": test["accuracy"], "test_accuracy_ci_low": low,
            "test_accuracy_ci_high": high, "test_loss": test["loss"],
            "best_val_accuracy": train["best_val_accuracy"], "params": train["params"],
            "mflops_per_image": train["mflops_per_image"], "epochs": train["epochs"],
            "train_minutes": train["train_minutes"], "train_img_per_s": train["train_img_per_s"],
            "inference_img_per_s": test["inference_img_per_s"],
        }
        for method in methods:
            prefix = method.replace("++", "pp")
            row.update({f"{prefix}_{k}": cam[method][k] for k in CAM_KEYS})
            row[f"{prefix}_img_per_s"] = cam[method]["img_per_s"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("variant")
    if BASELINE in table.index:
        base = table.loc[BASELINE]
        table["accuracy_vs_original"] = table["test_accuracy"] - base["test_accuracy"]
        table["mcnemar_p_vs_original"] = [mcnemar(correct[BASELINE], correct[v])["p_value"] for v in table.index]
        table["params_vs_original"] = table["params"] / base["params"]
        table["train_speed_vs_original"] = table["train_img_per_s"] / base["train_img_per_s"]
    return table


def pairwise_tests(correct: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for a, b in itertools.combinations(correct, 2):
        result = mcnemar(correct[a], correct[b])
        rows.append({"pair": f"{VARIANT_TITLES.get(a, a)} vs {VARIANT_TITLES.get(b, b)}",
                     "accuracy difference": f"{correct[b].mean() - correct[a].mean():+.4f}",
                     "only first right": result["only_a"], "only second right": result["only_b"],
                     "test": result["method"], "p-value": f"{result['p_value']:.4g}",
                     f"at {ALPHA}": describe_p(result["p_value"], ALPHA)})
    return pd.DataFrame(rows)


def cam_table(variants: list[str], methods: list[str]) -> pd.DataFrame:
    rows = []
    for variant in variants:
        cam = read_json(Path("metrics/cam") / f"{variant}.json")
        for method in [*methods, "random"]:
            r = cam[method]
            rows.append({"variant": VARIANT_TITLES.get(variant, variant), "heatmap": method,
                         "deletion AUC ↓": f"{r['deletion_auc']:.3f}", "insertion AUC ↑": f"{r['insertion_auc']:.3f}",
                         "Average Drop % ↓": f"{r['average_drop']:.1f}",
                         "Increase in Conf. % ↑": f"{r['increase_in_confidence']:.1f}"})
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, correct: dict[str, np.ndarray], methods: list[str], profile: str) -> str:
    variants = list(correct)
    t = table.rename(index=lambda v: VARIANT_TITLES.get(v, v))
    accuracy = pd.DataFrame({
        "test accuracy": t["test_accuracy"].map("{:.4f}".format),
        "95% CI": [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(t["test_accuracy_ci_low"], t["test_accuracy_ci_high"])],
        "test loss": t["test_loss"].map("{:.4f}".format),
        "params": t["params"].map("{:,}".format),
        "MFLOPs/img": t["mflops_per_image"].map("{:.1f}".format),
        "train min": t["train_minutes"].map("{:.1f}".format),
        "train img/s": t["train_img_per_s"].map("{:.0f}".format),
        "infer img/s": t["inference_img_per_s"].map("{:.0f}".format),
    })
    lines = [f"# Variant comparison (profile `{profile}`)", "",
             "Accuracy on the held-out CIFAR-10 test set (never used for a training decision); 95% percentile",
             "bootstrap intervals; speeds measured on the machine that ran the pipeline.", "",
             accuracy.to_markdown(disable_numparse=True), ""]
    if "accuracy_vs_original" in t:
        cost = pd.DataFrame({
            "accuracy vs Original": t["accuracy_vs_original"].map("{:+.4f}".format),
            "McNemar p": t["mcnemar_p_vs_original"].map("{:.4g}".format),
            "params vs Original": t["params_vs_original"].map("{:.3f}x".format),
            "train speed vs Original": t["train_speed_vs_original"].map("{:.2f}x".format),
        })
        lines += ["## Attention vs Original", "", cost.to_markdown(disable_numparse=True), ""]
    pairs = pairwise_tests(correct)
    lines += ["## Are the accuracy differences significant?", "",
              "McNemar's test on the same test images (exact binomial when fewer than 25 images are discordant).",
              "", pairs.to_markdown(index=False, disable_numparse=True), ""]
    for _, row in pairs.iterrows():
        verdict = "is" if row[f"at {ALPHA}"] == "significant" else "is not"
        lines.append(f"- {row['pair']}: the difference of {row['accuracy difference']} {verdict} significant "
                     f"at {ALPHA} (p = {row['p-value']}).")
    cams = cam_table(variants, methods)
    lines += ["", "## Heatmap faithfulness", "",
              "Target: each image's predicted class. Deletion/insertion AUC of the target probability as pixels",
              "are removed/inserted most-important-first; Average Drop and Increase in Confidence on the",
              "image multiplied by its map. `random` = random heatmaps drawn at the CAM's own resolution",
              "and upsampled like a CAM: the chance baseline.", "",
              cams.to_markdown(index=False, disable_numparse=True), ""]
    for variant in variants:
        cam = read_json(Path("metrics/cam") / f"{variant}.json")
        for method in methods:
            beats = (cam[method]["deletion_auc"] < cam["random"]["deletion_auc"],
                     cam[method]["insertion_auc"] > cam["random"]["insertion_auc"])
            lines.append(f"- {VARIANT_TITLES.get(variant, variant)} {method}: "
                         f"{'beats' if beats[0] else 'does not beat'} random on deletion, "
                         f"{'beats' if beats[1] else 'does not beat'} random on insertion.")
    return "\n".join(lines) + "\n"


def plot_curves(variants: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for variant in variants:
        for ax, metric in zip(axes, ("accuracy", "loss")):
            curve = read_curve(variant, "eval", metric)
            ax.plot(curve["step"] + 1, curve[metric], marker="o", markersize=3, label=VARIANT_TITLES.get(variant, variant))
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
    """Deletion and insertion curves per method, one colour per variant, random baseline dashed."""
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
                label = VARIANT_TITLES.get(variant, variant)
                ax.plot(curve["fraction"], curve[kind], color=colours[variant], label=f"{label} {method}")
                ax.plot(curve["fraction"], curve[f"random_{kind}"], color=colours[variant], linestyle="--",
                        alpha=0.6, label=f"{label} random")
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
    per_class = {v: read_json(Path("metrics/test") / f"{v}.json")["per_class_accuracy"] for v in variants}
    classes = list(next(iter(per_class.values())))
    table = pd.DataFrame({VARIANT_TITLES.get(v, v): [per_class[v][c] for c in classes] for v in variants}, index=classes)
    ax = table.plot.bar(figsize=(10, 4), width=0.8)
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("class")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Per-class test accuracy")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    variants, methods = params["train"]["variants"], params["gradcam"]["methods"]

    correct = correctness(variants)
    table = comparison_table(correct, methods, params["seed"])
    text = report(table, correct, methods, params["profile"])
    with atomic_path("metrics/compare", is_dir=True) as out:
        for variant, row in table.round(6).to_dict(orient="index").items():
            write_json(out / f"{variant}.json", {k: (None if pd.isna(x) else x) for k, x in row.items()})
    write_text("metrics/comparison.md", text)
    with atomic_path("plots/compare", is_dir=True) as out:
        plot_curves(variants, out / "val_curves.png")
        plot_cam_curves(variants, methods, out / "cam_curves.png")
        plot_per_class(variants, out / "per_class.png")
    print(text)


if __name__ == "__main__":
    main()
