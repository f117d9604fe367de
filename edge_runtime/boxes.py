"""Box arithmetic for MTCNN in pure numpy: boxes are float arrays (N, 4) of x1, y1, x2, y2.

These follow the reference `mtcnn` package (ipazc/mtcnn 1.0) step by step, including
its area convention (x2 - x1, no +1) and its NMS rule, so that results match it.
"""

from __future__ import annotations

import numpy as np

# NMS compares boxes in blocks of this many rows (sorted by x1) to cap time and memory.
_NMS_BLOCK = 256


def pairwise_iou(a: np.ndarray, b: np.ndarray, method: str = "union") -> np.ndarray:
    """IoU matrix (len(a), len(b)); method "min" divides by the smaller area instead."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    if method == "union":
        denom = area_a[:, None] + area_b[None, :] - inter
    elif method == "min":
        denom = np.minimum(area_a[:, None], area_b[None, :])
    else:
        raise ValueError(f"unknown IoU method {method!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / denom


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices of boxes kept, for boxes already sorted by descending score.

    The reference package's rule: box j is dropped when any earlier box overlaps it by
    more than `threshold`, even an earlier box that was itself dropped. This differs
    from greedy NMS, and matching it is what keeps our faces identical to the reference.
    Only boxes whose x ranges can overlap are compared (sorted by x1, in row blocks),
    so crowded P-Net maps cost far less than the full N x N matrix.
    """
    n = len(boxes)
    if n < 2:
        return np.arange(n)
    order = np.argsort(boxes[:, 0], kind="stable")
    by_x = boxes[order]
    reach = max(float(np.max(by_x[:, 2] - by_x[:, 0])), 0.0)
    suppressed = np.zeros(n, dtype=bool)
    for start in range(0, n, _NMS_BLOCK):
        stop = min(start + _NMS_BLOCK, n)
        lo = np.searchsorted(by_x[:, 0], by_x[start, 0] - reach, "left")
        hi = np.searchsorted(by_x[:, 0], by_x[stop - 1, 0] + reach, "right")
        iou = pairwise_iou(by_x[start:stop], by_x[lo:hi], method)
        earlier = order[start:stop, None] < order[None, lo:hi]
        hit = ((iou > threshold) & earlier).any(axis=0)
        suppressed[order[lo:hi][hit]] = True
    return np.flatnonzero(~suppressed)


def sort_by_score(scores: np.ndarray) -> np.ndarray:
    """Order of descending score, tie order as in the reference (reversed argsort)."""
    return np.argsort(scores)[::-1]


def to_square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square on its longer side, keeping its centre."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + 0.5 * (w - side)
    out[:, 1] = boxes[:, 1] + 0.5 * (h - side)
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def apply_regression(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Shift box corners by offsets given as fractions of the box size (+1 convention)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def change_convention(
    boxes: np.ndarray, shift: tuple[float, float], scale: tuple[float, float]
) -> np.ndarray:
    """Boxes with their centre moved by `shift` and their size multiplied by `scale`, both
    as fractions of each box's width and height: one detector's boxes drawn as another's."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + shift[0] * w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + shift[1] * h
    half_w, half_h = scale[0] * w / 2, scale[1] * h / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def face_size(boxes: np.ndarray) -> np.ndarray:
    """A face's size in pixels: the longer side of its box."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def clip_to_image(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip x to [0, width - 1] and y to [0, height - 1]."""
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width - 1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height - 1)
    return out
