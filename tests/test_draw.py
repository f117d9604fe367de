"""Annotated copies: numbered labels that hide little of each other or of faces, and --blur."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import Pipeline, load_image
from edge_runtime.__main__ import main
from edge_runtime.draw import draw, face_caption, overlap_area, place_labels
from edge_runtime.types import Face, Labels
from tests.conftest import DATA, TEST_DATA, needs_shared

PHOTO = TEST_DATA / "female_image_with_mask.jpg"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


def test_caption_numbers_the_face_and_names_its_labels(pipeline):
    (face,) = pipeline(PHOTO).faces
    assert face_caption(face, 1).startswith("1 WithMask ")
    assert face_caption(face, 3, detail=1) == f"3 {face.gender[0]}"
    assert face_caption(face, 3, detail=0) == "3"


def test_caption_shows_the_probability_of_each_label_shown():
    box, landmarks = np.array([10, 10, 70, 70], float), np.zeros((5, 2))
    masked = Face(box, 0.99, landmarks, Labels(True, 0.004, "Female", 0.3))
    unmasked = Face(box, 0.99, landmarks, Labels(False, 0.9, "Male", 0.8), track_id=7)
    assert face_caption(masked, 1) == "1 WithMask 100% Female 70%"
    assert face_caption(unmasked, 2) == "2 #7 WithoutMask 90% Male 80%"
    assert face_caption(Face(box, 0.97, landmarks), 3) == "3 face 97%"


def test_labels_of_a_crowd_hide_nothing_and_stay_inside(pipeline):
    """25 faces in a 400 px street photo: their numbers' labels cover next to nothing of
    each other and of other faces, and stay inside the photo."""
    photo = needs_shared(DATA / "scenes_voc" / "images" / "maksssksksss52.jpg")
    result = pipeline(photo)
    assert len(result) >= 20
    boxes = [tuple(round(float(v)) for v in f.box) for f in result]
    height, width = result.orig_shape
    sizes = [(24, 14)] * len(boxes)  # a number's label at the smallest text size
    labels, hidden = place_labels(boxes, sizes, height, width)
    area = 24 * 14 * len(boxes)
    assert hidden < 0.01 * area
    assert sum(overlap_area(a, b) for a, b in itertools.combinations(labels, 2)) < 0.01 * area
    for label in labels:
        assert label[0] >= 0 and label[2] <= width and label[1] >= 0 and label[3] <= height
    full = [(150, 14)] * len(boxes)  # "12 WithMask 100% Female 54%" does not fit here
    assert place_labels(boxes, full, height, width)[1] > 100 * hidden
    drawn = draw(result.image, result.faces)
    assert drawn.shape == result.image.shape and not np.array_equal(drawn, result.image)


def test_blur_hides_the_face_and_keeps_the_rest(pipeline):
    result = pipeline(PHOTO)
    x1, y1, x2, y2 = (round(float(v)) for v in result[0].box)
    plain, blurred = result.plot(), result.plot(blur=True)
    inner = (slice(y1 + 10, y2 - 10), slice(x1 + 10, x2 - 10))
    detail = lambda a: np.abs(np.diff(a[inner].astype(int), axis=1)).mean()  # noqa: E731
    assert detail(blurred) < 0.3 * detail(plain)


def test_cli_blur_saves_blurred_copies(tmp_path: Path, capsys):
    assert main([str(PHOTO), "--save", str(tmp_path), "--blur"]) == 0
    saved = load_image(tmp_path / PHOTO.name)
    original = load_image(PHOTO)
    assert saved.shape == original.shape
    assert np.abs(saved.astype(int) - original).mean() > 10
