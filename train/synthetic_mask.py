"""Draw a face mask onto an unmasked face from its five MTCNN landmarks.

There is no large public set of masked faces labelled by gender, so the masked-gender
model learns from unmasked gender faces with masks drawn on, the remedy of MaskTheFace
and MaskedFace-Net. Shapes (surgical, cloth, N95), colours, textures, shading and a
slight misplacement vary per face, drawn from a seeded generator so a run is repeatable.
Accuracy is measured on real masked faces only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

SHAPES = ("surgical", "cloth", "n95")
COLOURS = (
    (235, 240, 245),
    (150, 200, 230),
    (120, 170, 215),
    (40, 40, 45),
    (90, 90, 95),
    (200, 200, 200),
    (30, 60, 120),
    (220, 180, 190),
    (170, 190, 150),
    (250, 250, 250),
)


def mask_outline(
    landmarks: np.ndarray, box: np.ndarray, shape: str, rng: np.random.Generator
) -> np.ndarray:
    """Polygon (K, 2) covering nose to chin between the cheeks, for one face."""
    left_eye, right_eye, nose, mouth_left, mouth_right = landmarks.astype(np.float64)
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (mouth_left + mouth_right) / 2
    across = right_eye - left_eye
    eye_dist = max(np.linalg.norm(across), 1.0)
    unit_x = across / eye_dist
    down = mouth_mid - eye_mid
    unit_y = down / max(np.linalg.norm(down), 1.0)
    jitter = rng.normal(0, 0.04, size=2) * eye_dist
    top_centre = eye_mid + 0.45 * (nose - eye_mid) + jitter
    chin = mouth_mid + 1.1 * (mouth_mid - nose) + 0.6 * eye_dist * unit_y + jitter
    half_width = eye_dist * rng.uniform(1.0, 1.2)
    x1, _, x2, _ = box
    half_width = min(half_width, max((x2 - x1) * 0.55, eye_dist))
    if shape == "n95":
        points = [
            top_centre - 0.55 * half_width * unit_x,
            top_centre - 0.1 * eye_dist * unit_y,
            top_centre + 0.55 * half_width * unit_x,
            top_centre + half_width * unit_x + 0.5 * (chin - top_centre),
            chin + 0.4 * half_width * unit_x,
            chin + 0.1 * eye_dist * unit_y,
            chin - 0.4 * half_width * unit_x,
            top_centre - half_width * unit_x + 0.5 * (chin - top_centre),
        ]
    elif shape == "cloth":
        angles = np.linspace(0, np.pi, 9)
        lower = [
            top_centre
            + 0.5 * (chin - top_centre)
            + np.cos(a) * half_width * unit_x
            + np.sin(a) * 0.55 * (chin - top_centre)
            for a in angles
        ]
        points = [
            top_centre - 0.6 * half_width * unit_x,
            top_centre + 0.6 * half_width * unit_x,
            *lower,
        ]
    else:
        points = [
            top_centre - 0.9 * half_width * unit_x,
            top_centre + 0.9 * half_width * unit_x,
            top_centre + half_width * unit_x + 0.7 * (chin - top_centre),
            chin + 0.6 * half_width * unit_x,
            chin - 0.6 * half_width * unit_x,
            top_centre - half_width * unit_x + 0.7 * (chin - top_centre),
        ]
    return np.array(points, dtype=np.float32)


def draw_mask(
    image: np.ndarray, landmarks: np.ndarray, box: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A copy of `image` (RGB uint8) with a synthetic mask over the face's nose and mouth."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    outline = mask_outline(landmarks, box, shape, rng)
    height, width = image.shape[:2]
    alpha = np.zeros((height, width), np.float32)
    cv2.fillPoly(
        alpha, [np.round(outline * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2
    )
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)

    colour = np.array(COLOURS[rng.integers(len(COLOURS))], np.float32)
    colour = np.clip(colour + rng.normal(0, 12, size=3), 0, 255)
    layer = np.broadcast_to(colour, (height, width, 3)).astype(np.float32).copy()
    layer += rng.normal(0, rng.uniform(2, 10), size=(height, width, 1)).astype(np.float32)
    if shape == "surgical":
        top, bottom = outline[:, 1].min(), outline[:, 1].max()
        for k in range(1, 4):
            y = round(top + k * (bottom - top) / 4)
            cv2.line(layer, (0, y), (width - 1, y), (colour * 0.85).tolist(), 1, cv2.LINE_AA)
    # Shading: darker towards the lower edge, as light usually falls from above.
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    layer *= 1.0 - rng.uniform(0.05, 0.3) * ys
    out = image.astype(np.float32) * (1 - alpha[..., None]) + layer * alpha[..., None]
    if rng.random() < 0.7:
        ear_y = round(outline[:, 1].min() + 2)
        for end, side in ((outline[:, 0].min(), box[0]), (outline[:, 0].max(), box[2])):
            cv2.line(
                out,
                (int(end), ear_y),
                (int(side), ear_y - 3),
                (colour * 0.9).tolist(),
                1,
                cv2.LINE_AA,
            )
    return np.clip(out, 0, 255).astype(np.uint8)


def mask_drawer(
    templates: Path | None = None,
) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]:
    """draw(image, landmarks, box, rng): real mask images warped on (`train.mask_templates`)
    from a templates folder, or the shapes drawn here without one."""
    if templates is None:
        return draw_mask
    from train.mask_templates import draw_template_mask, load_templates

    loaded = load_templates(templates)
    return lambda image, landmarks, box, rng: draw_template_mask(image, landmarks, loaded, rng)
