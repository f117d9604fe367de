"""Real photos at VGA size for the latency benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EDGE_SHARED_DIR", ROOT.parent / "shared")) / "data"
VGA = (640, 480)
PHOTOS_PER_ROUND = 8


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every benchmark `benchmark`, so that CI runs them once each in the slow tests'
    pytest (`-m "slow or benchmark"`), on the workers those leave idle."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("benchmark") is None:
            item.add_marker(pytest.mark.benchmark)


def _four_by_three(folder: Path):
    from edge_runtime.image_io import load_image

    if not folder.exists():
        pytest.skip(f"needs {folder} (the team's shared data)")
    for path in sorted(folder.glob("*.jpg")):
        image = load_image(path)
        if image.shape[:2] == (300, 400):
            yield path, cv2.resize(image, VGA, interpolation=cv2.INTER_LINEAR)


@pytest.fixture(scope="session")
def vga_scenes() -> dict[str, np.ndarray]:
    """Two real street photos at VGA: the first 4:3 one with exactly 1 face, and with 5+."""
    from edge_runtime.mtcnn import MTCNN

    detector, found = MTCNN(detector="mtcnn"), {}
    for _, image in _four_by_three(DATA / "scenes_voc" / "images"):
        count = len(detector.detect(image))
        if count == 1:
            found.setdefault("one_face", image)
        elif count >= 5:
            found.setdefault("five_faces", image)
        if len(found) == 2:
            return found
    pytest.skip("no 4:3 photos with 1 and with 5+ faces")


@pytest.fixture(scope="session")
def vga_photos() -> list[np.ndarray]:
    """The first 8 real 4:3 street photos of scenes_voc (400x300), upscaled to 640x480.

    The data set has no photos of VGA size; these keep their aspect ratio and their
    real faces (1 to 10 per photo), so both detectors see the same real content.
    """
    photos = []
    for _, image in _four_by_three(DATA / "scenes_voc" / "images"):
        photos.append(image)
        if len(photos) == PHOTOS_PER_ROUND:
            break
    return photos
