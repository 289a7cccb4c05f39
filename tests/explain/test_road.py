"""ROAD's noisy linear imputation and pixel ranking, checked where the answer is known."""
from __future__ import annotations

import numpy as np

from src.explain.road import NOISE_STD, impute, ranked_mask


def test_imputation_continues_a_smooth_image_and_leaves_known_pixels():
    ramp = np.tile(np.linspace(0, 255, 32, dtype=np.float32), (2, 32, 1))[..., None].repeat(3, axis=3)
    removed = np.zeros((2, 32, 32), bool)
    removed[:, 10:20, 5:25] = True
    out = impute(ramp, removed, seed=0)
    assert np.array_equal(out[~removed], ramp[~removed])
    error = np.abs(out - ramp)[removed]
    # A linear ramp is its own neighbour average: only the added noise remains.
    assert error.mean() < 1.5 * NOISE_STD and abs((out - ramp)[removed].mean()) < 0.5
    assert not np.array_equal(impute(ramp, removed, seed=1), out)  # the noise is seeded


def test_imputation_leaks_no_outline_into_a_flat_image():
    flat = np.full((1, 16, 16, 3), 100.0, np.float32)
    removed = np.zeros((1, 16, 16), bool)
    removed[0, 4:12, 4:12] = True
    filled = impute(flat, removed, seed=0)
    assert abs(filled[removed].mean() - 100.0) < 1.0  # the square cannot be told apart but by noise


def test_ranked_mask_takes_the_top_or_bottom_fraction():
    maps = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    top = ranked_mask(maps, 0.25, most_relevant=True)
    bottom = ranked_mask(maps, 0.25, most_relevant=False)
    assert top.sum() == 4 and top[0, 3].all() and bottom[0, 0].all()
