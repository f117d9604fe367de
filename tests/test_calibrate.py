"""Threshold calibration and flip averaging: the rules, on arrays whose answer is known."""

from __future__ import annotations

import numpy as np

from edge_runtime.classifier import flip_mean
from train.calibrate import balanced_threshold, choose, class_error_rates


def test_balanced_threshold_evens_out_the_two_error_rates():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 2000)
    p = np.concatenate([rng.uniform(0.0, 0.6, 2000), rng.uniform(0.3, 1.0, 2000)])
    e0, e1 = class_error_rates(y, p, 0.5)
    assert e1 - e0 > 0.1  # at 0.5 class 1 pays far more
    t = balanced_threshold(y, p)
    b0, b1 = class_error_rates(y, p, t)
    assert t < 0.5 and abs(b0 - b1) < 0.01


def test_flip_is_kept_only_for_a_large_enough_gain():
    y = np.repeat([0, 1], 100)
    p = np.where(y == 1, 0.8, 0.2)
    worse = p.copy()
    worse[:2] = 0.9  # two mistakes more with the flip: 1 point worse
    assert not choose(y, p, worse)["flip"]
    better = np.where(y == 1, 0.8, 0.2)
    p_one_off = p.copy()
    p_one_off[:1] = 0.9  # the plain model misses one more face: flip gains 0.5 points
    assert choose(y, p_one_off, better)["flip"]


def test_flip_mean_averages_an_image_and_its_mirror():
    images = np.zeros((2, 4, 6, 3), np.float32)
    images[:, :, :3] = 1.0  # left half bright

    def left_half(x: np.ndarray) -> np.ndarray:
        return x[:, :, :3].mean(axis=(1, 2, 3))

    assert np.allclose(left_half(images), 1.0)
    assert np.allclose(flip_mean(left_half, images), 0.5)
