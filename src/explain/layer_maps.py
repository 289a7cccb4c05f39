"""A map layer's heatmaps formed from its stages' maps: a stage's own maps, or the fusion of the listed stages.

The fusion (``fused``, src/explain/map_layers.py) is the mean of its stages' maps upsampled to a common
size and rescaled to [0, 1]; at its native resolution that size is its finest stage's.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.ndimage import zoom

from src.explain.map_layers import FUSED, finest_stage


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (N, h, w) maps to ``size``, each rescaled to [0, 1]."""
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] != tuple(size):
        maps = zoom(maps, (1, size[0] / maps.shape[1], size[1] / maps.shape[2]), order=1)
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return ((maps - low) / np.maximum(high - low, 1e-12)).astype(np.float32)


def fuse(maps: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """The multi-layer map: the mean of the given maps upsampled to ``size``, rescaled to [0, 1]."""
    return upsample(np.mean([upsample(m, size) for m in maps], axis=0), size)


def native_map(layer: str, natives: Mapping[str, np.ndarray]) -> np.ndarray:
    """``layer``'s maps (N, h, w) at its native resolution from ``natives`` {stage: its native maps}: a stage's
    own maps; for the fusion, ``natives`` holds exactly its stages, fused at the finest one's resolution."""
    if layer != FUSED:
        return natives[layer]
    return fuse(list(natives.values()), natives[finest_stage(list(natives))].shape[1:3])


def input_map(layer: str, natives: Mapping[str, np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """``layer``'s maps (N, H, W) at the input's ``size``, from ``natives`` as for ``native_map``; each stage's
    map is upsampled once, so the fusion is the mean of its stages' maps as the study measures them."""
    if layer != FUSED:
        return upsample(natives[layer], size)
    return fuse(list(natives.values()), size)
