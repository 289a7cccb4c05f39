"""Save and load trained models as plain Keras plus the attention layers.

A model trained on the fast path holds CPU-tuned subclasses (``src/models/fast/``);
``to_reference`` rebuilds it from their reference classes with the same weights, so a
saved ``models/<regime>/<variant>/seed<seed>.keras`` loads with ``keras.models.load_model`` after importing
``src.models.attention`` (every attention kind's layer), and an Original model with Keras alone.

A saved model's bytes depend only on the network and its weights: Keras' save date and
zip entry times are replaced by fixed ones, so retraining with the same inputs leaves the
file (and every DVC stage downstream of it) unchanged.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import yaml

from src.core.artefacts import damaged, describe
from src.core.atomic import ZIP_EPOCH
from src.data.readers import CLASSES
from src.models import attention  # noqa: F401  (registers the attention layers for loading)
from src.paths import MODEL_DIR, Run


def _as_reference_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    # A fast layer names the class it stands in for; everything else is rebuilt as itself.
    cls = getattr(type(layer), "REFERENCE", type(layer))
    return cls.from_config(layer.get_config())


def to_reference(model: keras.Model) -> keras.Model:
    """The same network and weights built from reference layers only (a no-op copy for a reference model)."""
    clone = keras.models.clone_model(model, clone_function=_as_reference_layer)
    clone.set_weights(model.get_weights())
    return clone


# What every saved model's metadata.json says instead of the moment it was written (Keras' format).
DATE_SAVED = "1980-01-01@00:00:00"


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save ``model`` built from reference layers, without optimizer state (a model file, not a checkpoint).

    Write it to a temporary path (``src.core.atomic``): it is rewritten in place once Keras has saved it.
    """
    to_reference(model).save(path, include_optimizer=False)
    _drop_save_time(Path(path))


def _drop_save_time(path: Path) -> None:
    """Rewrite a .keras archive with fixed entry times and ``date_saved``, entries and compression unchanged."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                data = json.dumps({**json.loads(data), "date_saved": DATE_SAVED}).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            archive.writestr(fixed, data)


def train_command(run: Run, params_file: str | Path = "params.yaml") -> tuple[str, str]:
    """(why ``run`` has no stage, or "") and the command that trains it.

    Only the runs of ``study.runs`` have a train@ stage; for any other the command adds the missing
    variant or seed to the study (which trains only the new runs).
    """
    try:
        study = yaml.safe_load(Path(params_file).read_text())["study"]
        runs, variants = study["runs"], [str(v) for v in study["variants"]]
        seeds = [int(s) for s in study["seeds"][run.regime]] if run.regime in study["seeds"] else None
    except Exception:  # no readable params: name the stage, which is all that can be said
        return "", f"dvc repro train@{run.name}"
    if run.name in runs:
        return "", f"dvc repro train@{run.name}"
    if seeds is None:  # a regime's settings cannot be guessed: the study section must gain it
        return (f" (regime {run.regime} is not in study.regimes of {params_file}: add it to study.regimes and "
                "study.seeds)", "python -m src.config.study && dvc repro")
    if run.variant not in variants:
        return (f" (variant {run.variant} is not in study.variants of {params_file})",
                f"python -m src.config.study --variants {' '.join([*variants, run.variant])} && dvc repro")
    listed = ",".join(map(str, sorted({*seeds, run.seed})))
    return (f" (seed {run.seed} is not in study.seeds.{run.regime} of {params_file})",
            f"python -m src.config.study --seeds {run.regime}={listed} && dvc repro")


def load_run_model(run: Run, model_dir: str | Path = MODEL_DIR, *, float32: bool = False) -> keras.Model:
    """The model ``run`` trained, ready for inference; DataError if missing, damaged or not a CIFAR-10 classifier.

    ``float32=True`` returns it computing in float32 whatever precision it was
    trained in (see ``float32_model``).
    """
    path = run.model(model_dir)
    reason, command = train_command(run)
    if not path.is_file():
        raise damaged(path, f"no trained model{reason}", command)
    try:
        # Keras reports a damaged archive as "File not found"; reading every member first says what is wrong.
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
        if broken is not None:
            raise zipfile.BadZipFile(f"member {broken} is damaged")
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # zipfile, h5py and Keras raise many types for a damaged archive or config
        raise damaged(path, f"cannot load model ({describe(exc)})", command) from None
    outputs = model.output_shape[-1] if isinstance(model.output_shape, tuple) else None
    if outputs != len(CLASSES):
        raise damaged(path, f"the model has {outputs} outputs, expected one per CIFAR-10 class ({len(CLASSES)})",
                      command)
    return float32_model(model) if float32 else model


def float32_model(model: keras.Model) -> keras.Model:
    """The same network and weights computing in float32.

    A model trained under ``mixed_bfloat16`` keeps that policy in its saved layers,
    so its feature maps and gradients come out in bfloat16, which tf-keras-vis'
    upsampling (scipy) and the faithfulness arithmetic cannot take. Its variables
    are float32 already, so the weights carry over exactly.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = model.to_json().replace('"mixed_bfloat16"', '"float32"').replace('"mixed_float16"', '"float32"')
    clone = keras.models.model_from_json(config)
    clone.set_weights(model.get_weights())
    return clone
