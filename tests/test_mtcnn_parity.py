"""Our ONNX MTCNN against the reference `mtcnn` package (TensorFlow) on real photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.boxes import pairwise_iou
from edge_runtime.image_io import load_image
from tests.conftest import DATA, needs_shared

# CI compares on this many scenes_voc photos (sorted by name) plus every webcam frame.
VOC_PHOTOS = int(os.environ.get("PARITY_VOC_PHOTOS", "80"))
MIN_IOU = 0.9
MAX_LANDMARK_PX = 2.0
MAX_SCORE_DIFF = 0.01
MAX_UNMATCHED_SHARE = 0.01


def reference_faces(ref, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference detector's boxes (x1, y1, x2, y2), scores and landmarks (5, 2)."""
    faces = ref.detect_faces(image)
    keys = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (f["box"] for f in faces)], float)
    scores = np.array([f["confidence"] for f in faces], float)
    marks = np.array([[f["keypoints"][k] for k in keys] for f in faces], float)
    return boxes.reshape(-1, 4), scores, marks.reshape(-1, 5, 2)


def as_reference_rounds(boxes: np.ndarray) -> np.ndarray:
    """Our float boxes rounded the way the reference reports its own (x, y, w, h to int).

    Without this, a 0.5 px rounding alone puts 12 px faces below IoU 0.9.
    """
    x, y = np.round(boxes[:, 0]), np.round(boxes[:, 1])
    w, h = np.round(boxes[:, 2] - boxes[:, 0]), np.round(boxes[:, 3] - boxes[:, 1])
    return np.stack([x, y, x + w, y + h], axis=1).astype(float)


def compare(ours, theirs) -> dict[str, int]:
    """Match faces both ways at IoU >= 0.9; count unmatched faces and out-of-tolerance pairs."""
    boxes, scores, marks = theirs
    counts = {"ours": len(ours), "reference": len(scores), "unmatched": 0, "off": 0}
    if len(ours) == 0 or len(scores) == 0:
        counts["unmatched"] = len(ours) + len(scores)
        return counts
    iou = pairwise_iou(as_reference_rounds(ours.boxes), boxes)
    counts["unmatched"] += int(
        (iou.max(axis=1) < MIN_IOU).sum() + (iou.max(axis=0) < MIN_IOU).sum()
    )
    for i, j in enumerate(iou.argmax(axis=1)):
        if iou[i, j] < MIN_IOU:
            continue
        landmark_err = np.abs(ours.landmarks[i] - marks[j]).max()
        if landmark_err > MAX_LANDMARK_PX or abs(ours.scores[i] - scores[j]) > MAX_SCORE_DIFF:
            counts["off"] += 1
    return counts


def photos() -> list[Path]:
    voc = sorted((DATA / "scenes_voc" / "images").glob("*.jpg"))[:VOC_PHOTOS]
    webcam = sorted((DATA / "scenes_webcam" / "images").glob("*.jpg"))
    return voc + webcam


@pytest.mark.slow
@pytest.mark.shared_data
def test_parity_with_reference_mtcnn(detector):
    needs_shared(DATA / "scenes_voc")
    pytest.importorskip("mtcnn", reason="the reference needs the train extra (mtcnn, tensorflow)")
    from mtcnn import MTCNN as ReferenceMTCNN

    ref = ReferenceMTCNN()
    total = {"ours": 0, "reference": 0, "unmatched": 0, "off": 0}
    for path in photos():
        image = load_image(path)
        for key, value in compare(detector.detect(image), reference_faces(ref, image)).items():
            total[key] += value
    print(f"\nparity on {len(photos())} photos: {total}")
    assert total["reference"] > 200, "too few faces to say anything"
    assert total["unmatched"] <= MAX_UNMATCHED_SHARE * total["reference"], total
    assert total["off"] == 0, total
