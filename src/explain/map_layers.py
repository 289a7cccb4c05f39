"""Where a heatmap is taken: a stage's output, or the fusion of the listed stages' maps.

The layers of ``gradcam.layers``, which also open every map key ("stage2/gradcam", "fused/layercam"):
- ``stage<k>``: the output of stage k's last block, at that stage's resolution;
- ``fused``: the multi-layer map, the mean of every listed stage's map upsampled to the input size
  (LayerCAM's use of shallow layers for detail, Jiang et al. 2021). Its native resolution is that
  of its finest stage, the lowest-numbered one: no stride is below 1, so no later stage is finer.

The params schema, the heatmap study and its randomisation check, the figures and the CAM
benchmark ask this module which stages a layer's map is formed from (``stages_for``); forming it
is src/explain/layer_maps.py's. This module holds names and rules only, so the params schema reads
it without the maps' code: a change to how maps are formed re-runs the heatmap stages, not the training.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_STAGES = 8  # the most stages a network may have (the params schema limits model.blocks to it)
FUSED = "fused"
STAGES = tuple(f"stage{k}" for k in range(1, MAX_STAGES + 1))
MAP_LAYERS = (*STAGES, FUSED)
FUSION_NEEDS = 2  # stages: the fusion of one stage would be that stage's map again


def stage_number(stage: str) -> int:
    """1 for "stage1", ..."""
    return int(stage.removeprefix("stage"))


def stages_of(layers: Sequence[str]) -> list[str]:
    """The stages among ``layers``, in their listed order: what the fusion of ``layers`` is formed from."""
    return [layer for layer in layers if layer != FUSED]


def stages_for(layer: str, layers: Sequence[str]) -> list[str]:
    """The stages whose maps form ``layer``'s map when ``layers`` are listed: itself, or for the fusion every
    listed stage."""
    return stages_of(layers) if layer == FUSED else [layer]


def finest_stage(stages: Sequence[str]) -> str:
    """The stage of the finest resolution among ``stages``: the lowest-numbered."""
    return min(stages, key=stage_number)


def resolution_stage(layer: str, layers: Sequence[str]) -> str:
    """The stage whose resolution ``layer``'s map has when ``layers`` are listed."""
    return finest_stage(stages_for(layer, layers))


def missing_stages(layers: Sequence[str], stage_count: int) -> list[str]:
    """The listed stages that a network of ``stage_count`` stages lacks."""
    return [stage for stage in stages_of(layers) if stage_number(stage) > stage_count]


def fusion_problem(layers: Sequence[str]) -> str | None:
    """Why ``layers`` cannot be fused, or None."""
    if FUSED in layers and len(stages_of(layers)) < FUSION_NEEDS:
        return f"'{FUSED}' combines the listed stages, so it needs at least two of them"
    return None


def seconds_per_layer(layers: Sequence[str], stage_seconds: Mapping[str, float],
                      together: float) -> dict[str, float]:
    """How long each layer's maps took: a stage its own ``stage_seconds``; the fusion, all its stages
    ``together``."""
    return {layer: together if layer == FUSED else stage_seconds[layer] for layer in layers}
