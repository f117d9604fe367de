"""The ONNX MTCNN on real photos and on the awkward ones users send."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_runtime.boxes import pairwise_iou
from edge_runtime.image_io import load_image
from edge_runtime.manifest import ModelIntegrityError
from tests.conftest import DATA, ROOT, TEST_DATA, needs_shared

SEED_PHOTOS = sorted(p for p in TEST_DATA.glob("*.jpg") if "cropped" not in p.name)


@pytest.mark.parametrize("path", SEED_PHOTOS, ids=lambda p: p.stem)
def test_one_face_in_each_seed_photo(detector, path: Path):
    found = detector.detect(load_image(path))
    assert len(found) == 1
    x1, y1, x2, y2 = found.boxes[0]
    assert x2 - x1 > 150 and y2 - y1 > 150  # the face fills most of the 260 px photo
    assert found.scores[0] > 0.95
    eyes_y, mouth_y = found.landmarks[0, :2, 1].mean(), found.landmarks[0, 3:, 1].mean()
    assert y1 < eyes_y < mouth_y < y2


def test_output_shapes_when_nothing_is_found(detector):
    found = detector.detect(np.zeros((1, 1, 3), np.uint8))
    assert len(found) == 0
    assert found.boxes.shape == (0, 4) and found.landmarks.shape == (0, 5, 2)


def test_wide_photo_is_not_squashed(detector):
    # The same face on a square and on a 4:1 canvas: same box, shifted.
    face = cv2.resize(load_image(TEST_DATA / "male_image_without_mask.jpg"), (130, 130))
    square = np.full((300, 300, 3), 90, np.uint8)
    wide = np.full((300, 1200, 3), 90, np.uint8)
    square[85:215, 85:215] = face
    wide[85:215, 535:665] = face
    in_square, in_wide = detector.detect(square), detector.detect(wide)
    assert len(in_square) == 1 and len(in_wide) == 1
    x1, y1, x2, y2 = in_wide.boxes[0]
    assert 0.8 < (x2 - x1) / (y2 - y1) < 1.0  # a face box is a little taller than wide
    shifted = in_square.boxes[:1] + np.array([450, 0, 450, 0], np.float32)
    assert pairwise_iou(in_wide.boxes[:1], shifted)[0, 0] > 0.9


def test_a_photo_over_max_side_is_detected_shrunk_and_boxed_in_its_own_pixels():
    from edge_runtime.mtcnn import MTCNN

    image = load_image(TEST_DATA / "male_image_with_mask.jpg")
    small = MTCNN(detector="finetuned").detect(image)
    big = cv2.resize(image, (2600, 2600), interpolation=cv2.INTER_CUBIC)
    found = MTCNN(detector="finetuned", max_side=520).detect(big)  # detected at 520 px
    assert len(small) == len(found) == 1
    assert pairwise_iou(found.boxes, small.boxes * 10)[0, 0] > 0.9
    assert np.abs(found.landmarks - small.landmarks * 10).max() < 130  # 5% of the photo


def test_over_max_side_the_detector_costs_and_finds_what_the_shrunk_copy_does():
    """`min_face` counts in the shrunk copy's pixels: the pyramid of a 2000 px photo with
    max_side 400 is the copy's, so are its faces (boxes in the photo's pixels)."""
    from edge_runtime.mtcnn import MTCNN, working_copy

    crowd = load_image(ROOT / "docs" / "annotated_example.jpg")  # 6 faces, 400 px wide
    big = cv2.resize(crowd, (2000, 1395), interpolation=cv2.INTER_CUBIC)
    copy, shrink = working_copy(big, 400)
    on_copy = MTCNN(max_side=0).detect(copy)
    found = MTCNN(max_side=400).detect(big)
    assert len(found) == len(on_copy) >= 5
    np.testing.assert_allclose(found.boxes * shrink, on_copy.boxes, atol=0.5)
    np.testing.assert_allclose(found.scores, on_copy.scores, atol=1e-6)


def test_exif_rotated_photo_is_detected_upright(detector, tmp_path: Path):
    upright = load_image(TEST_DATA / "female_image_with_mask.jpg")
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270 degrees clockwise to display
    path = tmp_path / "sideways.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=-1))).save(path, exif=exif, quality=95)
    found = detector.detect(load_image(path))
    assert len(found) == 1
    left_eye, right_eye, nose = found.landmarks[0, :3]
    assert abs(left_eye[1] - right_eye[1]) < 15 and nose[1] > left_eye[1]


def test_grayscale_photo_still_has_its_face(detector):
    gray = np.asarray(Image.open(TEST_DATA / "female_image_without_mask.jpg").convert("L"))
    found = detector.detect(np.repeat(gray[:, :, None], 3, axis=2))
    assert len(found) == 1


def test_group_photo_finds_several_faces(detector):
    photo = needs_shared(DATA / "scenes_voc" / "images" / "maksssksksss104.jpg")
    assert len(detector.detect(load_image(photo))) >= 6


def test_tampered_model_is_refused(tmp_path: Path):
    from edge_runtime.mtcnn import MTCNN

    models = tmp_path / "models"
    (models / "mtcnn").mkdir(parents=True)
    (models / "manifest.json").write_bytes((ROOT / "models" / "manifest.json").read_bytes())
    for name in ("pnet", "rnet", "onet"):
        (models / "mtcnn" / f"{name}.onnx").write_bytes(
            (ROOT / "models/mtcnn" / f"{name}.onnx").read_bytes()
        )
    with open(models / "mtcnn" / "rnet.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match=r"rnet\.onnx has sha256"):
        MTCNN(models, detector="mtcnn")


def test_import_does_not_pull_tensorflow():
    code = (
        "import sys, edge_runtime, edge_runtime.mtcnn, edge_runtime.__main__; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_finetuned_detector_also_gives_reference_boxes_for_the_crops(detector):
    """The fine-tuned detector draws the annotators' boxes; the classifiers were trained on
    crops around reference boxes, so the runtime converts before cropping."""
    from edge_runtime.mtcnn import MTCNN

    photo = load_image(needs_shared(DATA / "scenes_voc" / "images" / "maksssksksss104.jpg"))
    finetuned = MTCNN(detector="finetuned")
    reference, found = detector.detect(photo), finetuned.detect(photo)
    raw = pairwise_iou(reference.boxes.astype(float), found.boxes.astype(float)).max(axis=1)
    converted = found.reference_boxes.astype(float)
    back = pairwise_iou(reference.boxes.astype(float), converted).max(axis=1)
    assert len(found) >= 6 and np.array_equal(reference.reference_boxes, reference.boxes)
    assert np.median(back) > 0.8 > np.median(raw)


def test_chained_pyramid_shows_the_area_pyramids_picture():
    """The student P-Net's cheap pyramid: the same level sizes and nearly the same pixels."""
    from edge_runtime.mtcnn import normalize, pyramid, scale_pyramid

    image = normalize(load_image(SEED_PHOTOS[0]))
    scales = scale_pyramid(*image.shape[:2], 20, 0.709)
    area, chained = pyramid(image, scales, "area"), pyramid(image, scales, "chained")
    assert [a.shape for a in area] == [c.shape for c in chained]
    for a, c in zip(area, chained, strict=True):
        assert np.abs(a - c).mean() < 0.05  # in (pixel - 127.5) / 128 units: 6 grey levels
    with pytest.raises(ValueError, match="unknown pyramid"):
        pyramid(image, scales, "nearest")


def test_many_candidates_are_cropped_past_remaps_row_limit():
    # cv2.remap refuses maps of 32767 rows or more: 1000 O-Net patches are 48,000 rows.
    from edge_runtime.mtcnn import ONET_SIZE, crop_and_resize

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (120, 160, 3)).astype(np.float32)
    corner = rng.uniform(-10, 100, (1000, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(12, 60, (1000, 1))], axis=1)
    patches = crop_and_resize(image, boxes, ONET_SIZE)
    assert patches.shape == (1000, ONET_SIZE, ONET_SIZE, 3)
    for i in (0, 681, 682, 999):  # either side of a block's end, each as if cropped alone
        np.testing.assert_array_equal(
            patches[i], crop_and_resize(image, boxes[i : i + 1], ONET_SIZE)[0]
        )


def test_student_pnet_has_its_own_threshold_on_the_large_face_levels(detector):
    # The manifest's large_faces: P-Net levels whose 12 px windows are faces of from_px or
    # more take its lower threshold; the others, and the reference P-Net, keep their own.
    from edge_runtime.mtcnn import MTCNN, PNET_CELL, normalize, scale_pyramid

    finetuned = MTCNN(detector="finetuned")
    from_px, low = finetuned.large_faces
    assert low < finetuned.thresholds[0]
    assert finetuned.pnet_threshold(PNET_CELL / from_px) == low
    assert finetuned.pnet_threshold(PNET_CELL / (from_px - 1)) == finetuned.thresholds[0]
    assert detector.large_faces is None
    assert {detector.pnet_threshold(s) for s in (0.6, 0.1, 0.02)} == {detector.thresholds[0]}
    # On a real frame: the finer levels keep their candidates; the coarse ones can only gain.
    needs_shared(DATA / "scenes_webcam")
    photo = sorted((DATA / "scenes_webcam" / "images").glob("*.jpg"))[0]
    image = normalize(load_image(photo))
    scales = scale_pyramid(*image.shape[:2], 20, 0.709)
    plain = MTCNN(detector="finetuned")
    plain.large_faces = None
    for scale in scales:
        level = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        more, same = finetuned._pnet_level(level, scale), plain._pnet_level(level, scale)
        if PNET_CELL / scale < from_px:
            np.testing.assert_array_equal(more, same)
        else:
            assert len(more) >= len(same)


def close_up(share: float) -> np.ndarray:
    """The middle `share` of a seed photo: its face runs past every edge."""
    image = load_image(TEST_DATA / "female_image_with_mask.jpg")
    h, w = image.shape[:2]
    return image[
        round(h * (1 - share) / 2) : round(h * (1 + share) / 2),
        round(w * (1 - share) / 2) : round(w * (1 + share) / 2),
    ]


@pytest.mark.parametrize("share", [0.8, 0.6])
def test_a_close_up_whose_face_runs_past_the_frame_is_found(share: float):
    """The middle of a seed photo: the face runs past every edge. Without the border
    retries nothing is found; with them one face, its box clipped to the photo, and the
    mask model still sees the mask."""
    from edge_runtime.pipeline import Pipeline

    close = close_up(share)
    assert len(Pipeline(border_retries=()).detector.detect(close)) == 0
    (face,) = Pipeline()(close).faces
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= close.shape[1] and 0 <= y1 < y2 <= close.shape[0]
    assert (x2 - x1) > 0.6 * close.shape[1] and face.mask is True


def test_a_users_threshold_holds_in_the_border_retries():
    """The retries' own O-Net thresholds apply only where the user set none, at
    construction or for the photo."""
    from edge_runtime.mtcnn import MTCNN

    close = close_up(0.8)
    (score,) = MTCNN().detect(close).scores
    strict = (1 + float(score)) / 2
    assert len(MTCNN(threshold=strict).detect(close)) == 0
    assert len(MTCNN().detect(close, threshold=strict)) == 0
    loose = MTCNN(threshold=0.5)
    assert len(loose.detect(close)) == 1
    assert [threshold for _, threshold in loose.border_retries] == [None, None]


def test_a_large_min_face_on_a_small_photo_skips_levels_below_the_window():
    """A 128 px photo with min_face 40 once gave P-Net a level smaller than its 12 px
    window (an ONNX Runtime error); those levels are left out now."""
    from edge_runtime.mtcnn import MTCNN

    small = cv2.resize(load_image(TEST_DATA / "male_image_with_mask.jpg"), (128, 128))
    for min_face in (40, 100, 200):
        found = MTCNN(detector="finetuned", min_face=min_face).detect(small)
        assert len(found) <= 1
