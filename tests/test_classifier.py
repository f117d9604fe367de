"""A classifier's batch, split between CPU workers, gives each crop the answer it gets alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_runtime.classifier import Classifier
from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from edge_runtime.sessions import cpu_only
from tests.conftest import TEST_DATA


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """The eight seed photos and crops (real faces, each different) at the models' 64 px."""
    paths = sorted(TEST_DATA.glob("*_image_*.jpg"))
    assert len(paths) == 8
    images = [load_image(p) for p in paths]
    return np.stack([cv2.resize(im, (64, 64), interpolation=cv2.INTER_AREA) for im in images])


@pytest.mark.parametrize("name", ["mask", "gender_masked", "gender_unmasked"])
def test_split_batch_matches_each_crop_alone(crops: np.ndarray, name: str):
    split = Classifier(DEFAULT_MODELS_DIR, name, threads=2)
    alone = Classifier(DEFAULT_MODELS_DIR, name, threads=1)
    assert (split.workers, alone.workers) == (2, 1)
    each = np.concatenate([alone.predict(crop[None]) for crop in crops])
    order = np.argsort(each)  # one class in the first slice, the other in the last
    assert each[order[0]] < 0.5 < each[order[-1]]
    np.testing.assert_allclose(split.predict(crops[order]), each[order], atol=1e-6)
    odd = order[::2]  # 4 crops: slices of 2 and 2; then 3: 2 and 1
    np.testing.assert_allclose(split.predict(crops[odd]), each[odd], atol=1e-6)
    np.testing.assert_allclose(split.predict(crops[odd[1:]]), each[odd[1:]], atol=1e-6)


def test_only_a_cpu_session_is_split():
    assert cpu_only(None) and cpu_only(["CPUExecutionProvider"])
    assert not cpu_only(["CUDAExecutionProvider", "CPUExecutionProvider"])
