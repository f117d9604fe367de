"""Training sample weights (class balance overall, or within each source) and augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from train.fit import sample_weights

NAMES = ["Female", "Male"]


def rows(source: str, female: int, male: int) -> list[dict]:
    return [{"source": source, "label": "Female"}] * female + [
        {"source": source, "label": "Male"}
    ] * male


def weight_by(data: list[dict], weights: list[float], source: str, label: str) -> float:
    return sum(
        w
        for r, w in zip(data, weights, strict=True)
        if (r["source"], r["label"]) == (source, label)
    )


def test_per_source_balances_each_source_and_keeps_its_total():
    data = rows("halfface", 2, 18) + rows("pengeye", 30, 10)
    weights = sample_weights(data, NAMES, "per_source")
    for source, n in (("halfface", 20), ("pengeye", 40)):
        female, male = (weight_by(data, weights, source, c) for c in NAMES)
        assert np.isclose(female, male) and np.isclose(female + male, n)


def test_balanced_only_evens_the_classes_overall():
    data = rows("halfface", 2, 18) + rows("pengeye", 30, 10)
    weights = sample_weights(data, NAMES, "balanced")
    assert np.isclose(sum(weights[:20]), 2 * 60 / 64 + 18 * 60 / 56)  # still mostly Male
    female = sum(w for r, w in zip(data, weights, strict=True) if r["label"] == "Female")
    assert np.isclose(female, sum(weights) / 2)
    assert sample_weights(data, NAMES, "none") == [1.0] * 60


def test_grayscale_augmentation_greys_that_share_of_crops_in_training_only():
    pytest.importorskip("keras", reason="training needs the train extra")
    from train.model import augmentation

    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 255, (200, 16, 16, 3)).astype(np.float32)
    augment = augmentation(grayscale=0.3)
    out = np.asarray(augment(crops, training=True))
    grey = np.ptp(out, axis=-1).max(axis=(1, 2)) < 1e-3
    assert 0.15 < grey.mean() < 0.45
    assert np.array_equal(np.asarray(augment(crops, training=False)), crops)
    assert "random_grayscale" not in [layer.name for layer in augmentation().layers]


def test_edge_fill_paints_flat_bands_on_that_share_of_crops_and_leaves_the_middle():
    pytest.importorskip("keras", reason="training needs the train extra")
    from train.edge_fill import RandomEdgeFill

    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 255, (400, 32, 32, 3)).astype(np.float32)
    fill = RandomEdgeFill(0.4, max_width=0.25, seed=1)
    out = np.asarray(fill(crops, training=True))
    changed = np.any(out != crops, axis=-1)
    touched = changed.any(axis=(1, 2))
    assert 0.25 < touched.mean() < 0.5  # 0.4 x (some side gets a band at least a pixel wide)
    assert not changed[:, 8:24, 8:24].any()  # a band is at most a quarter of the side
    for image, where in zip(out[touched], changed[touched], strict=True):
        assert len(np.unique(image[where], axis=0)) == 1  # one flat colour a crop
    assert np.array_equal(np.asarray(fill(crops, training=False)), crops)
