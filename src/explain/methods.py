"""The CAM methods, one ``CamMethod`` entry each: the params schema, both explainers, the heatmap study and
the predict command read them from ``CAM_METHODS``.

A method turns a layer's activations A (N, h, w, C) and the gradients dS/dA of the class score S (the
logit, before the softmax) into an un-normalised map (N, h, w), its ``formula`` (a function of
src/explain/formulas.py, named here):

- Grad-CAM (Selvaraju et al. 2017): ReLU(sum_c mean_hw(dS/dA_c) * A_c);
- Grad-CAM++ (Chattopadhay et al. 2018), in tf-keras-vis' closed form with exp(S) as the
  score, whose factor cancels in alpha and in the normalisation, so it is left out here
  (which also keeps large logits from overflowing);
- LayerCAM (Jiang et al. 2021): ReLU(sum_c ReLU(dS/dA_c) * A_c);
- Score-CAM (Wang et al. 2020) weighs each channel by the class score of the image masked with
  it: no gradient formula, so only its tf-keras-vis class computes it.

``reference`` names the tf-keras-vis class that computes the method one layer at a time
(src/explain/cam.py); tests/explain/test_fast_cam.py holds every formula to it. A method that
tf-keras-vis lacks is defined by its formula alone, which the one-pass explainer computes
(src/explain/fast_cam.py). The registry names its formulas and classes rather than importing them,
so that the params schema reads it without TensorFlow and without the formulas' code, as it reads
src/models/variants.py: editing a formula re-runs the heatmap stages, not the training.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def no_options(channels: int) -> dict:
    return {}


@dataclass(frozen=True)
class CamMethod:
    """One CAM method: its formula, and the tf-keras-vis class that is its reference."""

    name: str                           # as gradcam.methods and the map keys ("stage2/gradcam") spell it
    formula: str | None                 # its function in src/explain/formulas.py; None: no gradient formula
    reference: str | None               # "tf_keras_vis.<module>.<Class>"; None: the formula defines the method
    # Extra arguments of the tf-keras-vis call, given the explained layer's channel count.
    reference_options: Callable[[int], dict] = no_options

    def __post_init__(self):
        if self.formula is None and self.reference is None:
            raise ValueError(f"CAM method {self.name!r} needs a formula or a tf-keras-vis reference class")


CAM_METHODS: dict[str, CamMethod] = {method.name: method for method in (
    CamMethod("gradcam", "grad_cam", "tf_keras_vis.gradcam.Gradcam"),
    CamMethod("gradcam++", "grad_cam_plus_plus", "tf_keras_vis.gradcam_plus_plus.GradcamPlusPlus"),
    CamMethod("layercam", "layer_cam", "tf_keras_vis.layercam.Layercam"),
    # Score-CAM scores at most the 64 likeliest channel masks: one forward pass per mask per image.
    CamMethod("scorecam", None, "tf_keras_vis.scorecam.Scorecam",
              reference_options=lambda channels: {"max_N": min(64, channels)}),
)}


def cam_method(name: str) -> CamMethod:
    """The registered method ``name``; ValueError naming the registered ones if there is none."""
    if name not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {name!r}; allowed: {', '.join(CAM_METHODS)}")
    return CAM_METHODS[name]
