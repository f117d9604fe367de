"""Saved optimised graphs: the same answers as a session built from scratch, a damaged or
unwritable cache never used or fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.classifier import Classifier
from edge_runtime.crop import crop_faces
from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR, sha256_of
from edge_runtime.mtcnn import MTCNN
from tests.conftest import TEST_DATA


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    detector = MTCNN(detector="finetuned")
    batch = []
    for path in sorted(TEST_DATA.glob("*_image_*.jpg")):
        image = load_image(path)
        found = detector.detect(image)
        batch.append(crop_faces(image, found.reference_boxes[:1], 64, 0.2))
    return np.concatenate(batch)


def probabilities(crops: np.ndarray, name: str = "mask") -> np.ndarray:
    return Classifier(DEFAULT_MODELS_DIR, name).predict(crops)


@pytest.mark.parametrize("name", ["mask", "gender_masked", "gender_unmasked"])
def test_a_cached_graph_answers_as_a_fresh_session(tmp_path: Path, monkeypatch, crops, name):
    monkeypatch.setenv("EDGE_ORT_CACHE", "off")
    fresh = probabilities(crops, name)
    monkeypatch.setenv("EDGE_ORT_CACHE", str(tmp_path))
    saving = probabilities(crops, name)
    (saved,) = tmp_path.glob(f"{name}-*.ort")
    stamp = saved.with_name(saved.name + ".sha256")
    assert stamp.is_file() and not list(tmp_path.glob("*partial*"))
    loaded = probabilities(crops, name)  # a new session, from the saved graph
    np.testing.assert_allclose(saving, fresh, atol=1e-6)
    np.testing.assert_allclose(loaded, fresh, atol=1e-6)


def test_a_damaged_cache_is_rebuilt_and_an_unwritable_one_skipped(
    tmp_path: Path, monkeypatch, crops
):
    monkeypatch.setenv("EDGE_ORT_CACHE", "off")
    fresh = probabilities(crops)
    monkeypatch.setenv("EDGE_ORT_CACHE", str(tmp_path))
    probabilities(crops)
    (saved,) = tmp_path.glob("mask-*.ort")
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0xFF
    saved.write_bytes(bytes(data))
    np.testing.assert_allclose(probabilities(crops), fresh, atol=1e-6)
    stamp = saved.with_name(saved.name + ".sha256")
    assert stamp.read_text().strip() == sha256_of(saved)  # rebuilt
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("EDGE_ORT_CACHE", str(blocked / "ort"))
    np.testing.assert_allclose(probabilities(crops), fresh, atol=1e-6)


def test_a_folder_others_can_write_to_is_not_used(tmp_path: Path, monkeypatch, crops):
    """Anyone who can write the folder could swap a graph in: such a folder is ignored."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("EDGE_ORT_CACHE", str(shared))
    probabilities(crops)
    assert list(shared.iterdir()) == []
