"""The shared face crop: square, centred, padded at borders, never stretched."""

from __future__ import annotations

import numpy as np

from edge_runtime.crop import crop_face, crop_faces, square_window


def gradient_image(height: int = 100, width: int = 200) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.dstack([xs % 256, ys % 256, np.full_like(xs, 128)]).astype(np.uint8)


def test_window_is_square_around_box_centre():
    x0, y0, side = square_window(np.array([40, 20, 60, 60]), margin=0.2)
    assert side == 48
    assert (x0 + side / 2, y0 + side / 2) == (50, 40)


def test_crop_inside_image_is_a_plain_resize():
    image = gradient_image()
    crop = crop_face(image, np.array([50, 20, 90, 60]), size=40, margin=0.0)
    assert crop.shape == (40, 40, 3)
    assert np.array_equal(crop, image[20:60, 50:90])


def test_tall_box_is_not_stretched():
    image = gradient_image()
    crop = crop_face(image, np.array([90, 10, 110, 90]), size=80, margin=0.0)
    # The square spans x 60..140, so the red ramp (x) keeps its 1-per-pixel slope.
    assert crop[40, 0, 0] == 60 and crop[40, 79, 0] == 139


def test_border_is_padded_black_and_face_stays_centred():
    image = gradient_image()
    crop = crop_face(image, np.array([-10, -10, 10, 10]), size=20, margin=0.0)
    assert crop[:10, :10].max() == 0
    assert np.array_equal(crop[10:, 10:], image[:10, :10])


def test_box_entirely_outside_gives_black_crop():
    crop = crop_face(gradient_image(), np.array([500, 500, 520, 520]), size=16)
    assert crop.shape == (16, 16, 3) and crop.max() == 0


def test_crop_faces_with_no_boxes():
    assert crop_faces(gradient_image(), np.zeros((0, 4)), size=32).shape == (0, 32, 32, 3)
