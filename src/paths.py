"""Where every stage reads and writes, relative to the project root (the paths dvc.yaml declares).

A *run* is one variant trained with one training seed in one training regime (``study.regimes``);
its files sit under ``<kind>/<regime>/<variant>/seed<seed>`` so that ``train@``, ``evaluate@`` and
``heatmaps@<regime>-<variant>-<seed>`` (the names DVC gives the entries of ``study.runs``) each own
exactly their run's files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")
PREDICTIONS_DIR = Path("data/predictions")
MODEL_DIR = Path("models")
CHECKPOINT_DIR = Path("checkpoints")
TRAIN_METRICS_DIR = Path("metrics/train")
TEST_METRICS_DIR = Path("metrics/test")
CAM_METRICS_DIR = Path("metrics/cam")
CAM_SCORES_DIR = Path("data/cam")
COMPARE_METRICS_DIR = Path("metrics/compare")
HEADLINE_DIR = Path("metrics/headline")
REPORT = Path("metrics/comparison.md")
TRAIN_PLOTS_DIR = Path("plots/train")
COMPARE_PLOTS_DIR = Path("plots/compare")


@dataclass(frozen=True, order=True)
class Run:
    """One training run: ``variant`` trained with training seed ``seed`` in the training regime ``regime``."""

    variant: str
    seed: int
    regime: str

    @property
    def name(self) -> str:
        """The suffix of the run's DVC stages (train@<name>, evaluate@<name>) and its key in ``study.runs``."""
        return run_name(self.regime, self.variant, self.seed)

    @property
    def _leaf(self) -> Path:
        return Path(self.regime) / self.variant / f"seed{self.seed}"

    def model(self, model_dir: str | Path = MODEL_DIR) -> Path:
        return Path(model_dir) / self._leaf.with_suffix(".keras")

    @property
    def train_metrics(self) -> Path:
        return TRAIN_METRICS_DIR / self._leaf.with_suffix(".json")

    @property
    def test_metrics(self) -> Path:
        return TEST_METRICS_DIR / self._leaf.with_suffix(".json")

    @property
    def predictions(self) -> Path:
        return PREDICTIONS_DIR / self._leaf.with_suffix(".npz")

    @property
    def cam_metrics(self) -> Path:
        """The heatmaps stage's scores of the variant's chosen map on this run's model."""
        return CAM_METRICS_DIR / self._leaf.with_suffix(".json")

    @property
    def cam_scores(self) -> Path:
        """The heatmaps stage's per-image scores and curves of the chosen map (and its baselines' curves)."""
        return CAM_SCORES_DIR / self._leaf.with_suffix(".npz")

    @property
    def train_plots(self) -> Path:
        """The run's dvclive folder."""
        return TRAIN_PLOTS_DIR / self._leaf

    @property
    def checkpoints(self) -> Path:
        """Keras' BackupAndRestore folder while the run trains."""
        return CHECKPOINT_DIR / self._leaf

    @property
    def live_curves(self) -> Path:
        """dvclive's folder while the run trains; it survives a kill so a resumed run continues the
        curves, and becomes ``train_plots`` when the run ends."""
        return CHECKPOINT_DIR / self.regime / self.variant / f"seed{self.seed}-curves"

    def curve(self, split: str, metric: str) -> Path:
        """The dvclive TSV of one training curve: split is "train", "eval" or "time"."""
        return self.train_plots / "plots" / "metrics" / split / f"{metric}.tsv"


def run_name(regime: str, variant: str, seed: int) -> str:
    """A run's key in ``study.runs``: <regime>-<variant>-<seed>."""
    return f"{regime}-{variant}-{seed}"


def cam_study(regime: str, variant: str) -> Path:
    """The heatmap_study@<regime>-<variant> stage's layer x method table, check and choice (beside the runs' files)."""
    return CAM_METRICS_DIR / regime / variant / "study.json"


def study_runs(params: dict, regime: str) -> list[Run]:
    """Every (variant, training seed) the params ask for in ``regime``, variants in their listed order."""
    study = params["study"]
    return [Run(variant, seed, regime) for variant in study["variants"] for seed in study["seeds"][regime]]
