"""Save and load trained models as plain Keras plus the two attention layers.

A model trained on the fast path holds CPU-tuned subclasses (``src/models/fast/``);
``to_reference`` rebuilds it from their reference classes with the same weights, so a
saved ``models/<variant>/seed<seed>.keras`` loads with ``keras.models.load_model`` after importing
``src.models.attention`` (SE/CBAM), and an Original model with Keras alone.
"""
from __future__ import annotations

from pathlib import Path

import keras

from pipeline.errors import DataError
from src.models import attention  # noqa: F401  (registers SqueezeExcitation and CBAM for loading)
from src.paths import MODEL_DIR, Run


def model_path(variant: str, seed: int, model_dir: str | Path = MODEL_DIR) -> Path:
    """Where train@<variant>-<seed> saves its model."""
    return Run(variant, seed).model(model_dir)


def _as_reference_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    # A fast layer names the class it stands in for; everything else is rebuilt as itself.
    cls = getattr(type(layer), "REFERENCE", type(layer))
    return cls.from_config(layer.get_config())


def to_reference(model: keras.Model) -> keras.Model:
    """The same network and weights built from reference layers only (a no-op copy for a reference model)."""
    clone = keras.models.clone_model(model, clone_function=_as_reference_layer)
    clone.set_weights(model.get_weights())
    return clone


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save ``model`` built from reference layers, without optimizer state (a model file, not a checkpoint)."""
    to_reference(model).save(path, include_optimizer=False)


def load_variant(variant: str, seed: int, model_dir: str | Path = MODEL_DIR, *, float32: bool = False) -> keras.Model:
    """The model of ``variant`` trained with ``seed``, ready for inference; DataError if missing or unreadable.

    ``float32=True`` returns it computing in float32 whatever precision it was
    trained in (see ``float32_model``).
    """
    path = model_path(variant, seed, model_dir)
    if not path.is_file():
        raise DataError(f"{path}: no trained model; run `dvc repro train@{Run(variant, seed).name}`")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged zip/config
        raise DataError(f"{path}: cannot load model ({type(exc).__name__}: {exc})") from None
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
