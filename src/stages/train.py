"""Stage train@<regime>-<variant>-<seed>: train one ResNet variant with one training seed in one regime.

    python -m src.stages.train --regime short --variant se --seed 0

Reads params ``seed`` (the split), ``model`` (its own ``model.attention.<variant>``), ``train`` and
its regime's settings over them (``study.regimes.<regime>``), not ``study.seeds``: adding a seed to the
study trains only the new runs. Writes (<run> = <regime>/<variant>/seed<seed>)
- models/<run>.keras        the trained model, reference layers only (raw [0, 255] pixels in)
- metrics/train/<run>.json  best/final val accuracy, epochs, wall time, img/s, params, precision
- plots/train/<run>/        dvclive per-epoch train/val loss and accuracy, epoch seconds (TSV)

A run killed mid-way resumes from its last completed epoch when the stage runs
again (checkpoints/<run>/, discarded if the run's params changed); the
backup is kept until all three outputs are published, so a failed save (full disk,
unwritable folder) costs the re-run one epoch, not the training. Before training, the
output folders must be writable and the disk must have room for the backups and the
model. A NaN/inf loss stops training with an error and saves no model. In a
multi-worker run only the chief writes these outputs, and the command supervises the
training in a child process that it ends, with one error line, if the cluster does not
form within ``train.cluster_timeout_seconds`` or on SIGTERM/SIGINT (src/training/cluster.py).
"""
from __future__ import annotations

import shutil
import sys

from src.core.atomic import ensure_writable, naming, publish_all, staging_dir, write_json
from src.core.errors import stage_main
from src.config.params import known_regime, load_params, run_params, run_stage_arguments
from src.paths import PREPARED_DIR, Run
from src.training.cluster import cluster_from_env, run_as_supervised_child, supervise


@stage_main
def main(argv: list[str] | None = None) -> None:
    args = run_stage_arguments(__doc__, str(PREPARED_DIR), argv)
    params = load_params(args.params)
    run = Run(args.variant, args.seed, known_regime(params, args.regime, args.params))
    params = run_params(params, run.regime)
    if params["train"]["strategy"] == "multi_worker" and not run_as_supervised_child():
        command = [sys.executable, "-m", "src.stages.train", "--regime", run.regime, "--variant", args.variant,
                   "--seed", str(args.seed), "--params", args.params, "--prepared", args.prepared]
        sys.exit(supervise(cluster_from_env(required=True), params["train"]["cluster_timeout_seconds"], command))
    # Imported here: a multi-worker supervisor never loads TensorFlow, whose C++ would hold up its signals.
    from src.models.io import save_model
    from src.training.fit import train_run
    from src.training.resume import OUTPUT_STAGING, discard_backup, trim_curves

    ensure_writable(run.model().parent, run.train_metrics.parent, run.train_plots.parent, OUTPUT_STAGING,
                    run.checkpoints.parent)
    with naming(run.checkpoints.parent):  # dvclive's curves and the backups are written there while training
        trim_curves(run.checkpoints, run.live_curves)
        result = train_run(run, params, args.prepared)
    metrics = result.metrics
    if result.cluster.is_chief:
        # Every output is written in full before any replaces the old one; the curves are copied, not
        # moved, so that the backup and its curves stay whole until all three are published.
        with staging_dir(OUTPUT_STAGING) as staged:
            with naming(run.model(), staged / "model.keras"):
                save_model(result.model, staged / "model.keras")
            write_json(staged / "metrics.json", metrics)
            with naming(run.train_plots, staged / "curves"):
                shutil.copytree(result.curves, staged / "curves")
            publish_all([(staged / "model.keras", run.model()), (staged / "metrics.json", run.train_metrics),
                         (staged / "curves", run.train_plots)])
        discard_backup(run.checkpoints)
        shutil.rmtree(result.curves, ignore_errors=True)
    print(f"train: {run.name} ({result.cluster.name}) best val accuracy {metrics['best_val_accuracy']:.4f} in "
          f"{metrics['train_minutes']:.1f} min, {metrics['train_img_per_s']} img/s, {metrics['precision']}")


if __name__ == "__main__":
    main()
