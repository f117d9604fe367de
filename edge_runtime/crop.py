"""The face crop shared by training and run time, so a classifier sees the same framing in both.

`train/` imports this module (it needs only numpy and OpenCV), and the runtime uses it
on every detected face. Change it and the shipped classifiers no longer see at run
time what they saw in training: retrain them.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MARGIN = 0.2


def square_window(box: np.ndarray, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
    """Integer square (x0, y0, side) centred on box (x1, y1, x2, y2).

    The side is the box's longer side times (1 + margin): with margin 0.2 the crop has
    10% of that side free around the face on each side of the longer dimension.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(round(max(x2 - x1, y2 - y1) * (1.0 + margin)), 1)
    x0 = round((x1 + x2) / 2 - side / 2)
    y0 = round((y1 + y2) / 2 - side / 2)
    return x0, y0, side


def crop_face(
    image: np.ndarray, box: np.ndarray, size: int, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """Square crop (size, size, 3) uint8 around one face box; never distorts the aspect ratio.

    Parts of the square outside the photo are filled with black rather than shifted or
    clipped, so the face stays centred at the same scale wherever it is in the photo.
    """
    height, width = image.shape[:2]
    x0, y0, side = square_window(box, margin)
    window = np.zeros((side, side, image.shape[2]), dtype=image.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        window[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(window, (size, size), interpolation=interpolation)


def crop_faces(
    image: np.ndarray, boxes: np.ndarray, size: int, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """crop_face for every box: (N, size, size, 3) uint8, N may be 0."""
    crops = [crop_face(image, box, size, margin) for box in boxes]
    if not crops:
        return np.zeros((0, size, size, image.shape[2]), dtype=image.dtype)
    return np.stack(crops)
