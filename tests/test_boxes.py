"""Box arithmetic on arrays small enough to check by hand."""

from __future__ import annotations

import numpy as np

from edge_runtime.boxes import (
    apply_regression,
    change_convention,
    clip_to_image,
    nms,
    pairwise_iou,
    to_square,
)


def test_iou_of_half_overlapping_squares():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float)
    assert np.allclose(pairwise_iou(a, b), [[50 / 150, 0]])
    assert np.allclose(pairwise_iou(a, b, "min"), [[0.5, 0]])


def test_nms_drops_boxes_overlapping_any_earlier_box():
    # Box 1 overlaps box 0; box 2 overlaps only box 1, which was dropped.
    # The reference rule still drops box 2 (greedy NMS would keep it).
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10], [50, 50, 60, 60]], float)
    assert nms(boxes, 0.5).tolist() == [0, 3]
    assert nms(boxes, 0.7).tolist() == [0, 1, 2, 3]


def test_nms_blocks_match_full_matrix():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, size=(700, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 60, size=(700, 1))], axis=1)
    iou = pairwise_iou(boxes, boxes)
    earlier = np.triu(np.ones_like(iou, dtype=bool), k=1)
    expected = np.flatnonzero(~((iou > 0.5) & earlier).any(axis=0))
    assert nms(boxes, 0.5).tolist() == expected.tolist()


def test_nms_of_nothing():
    assert nms(np.zeros((0, 4)), 0.5).tolist() == []


def test_to_square_keeps_centre():
    sq = to_square(np.array([[0, 0, 10, 20]], float))
    assert sq.tolist() == [[-5, 0, 15, 20]]


def test_regression_scales_with_box_size():
    out = apply_regression(np.array([[0, 0, 9, 19]], float), np.array([[0.1, 0.1, -0.1, 0.0]]))
    assert np.allclose(out, [[1, 2, 8, 19]])


def test_clip_to_image():
    out = clip_to_image(np.array([[-3, -1, 700, 500]], float), height=480, width=640)
    assert out.tolist() == [[0, 0, 639, 479]]


def test_change_convention_moves_and_scales_about_the_centre():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])
    assert np.allclose(change_convention(boxes, (0, 0), (1, 1)), boxes)
    moved = change_convention(boxes, (0.5, -0.25), (2.0, 0.5))
    assert np.allclose(moved, [[10.0, 20.0, 50.0, 40.0]])
