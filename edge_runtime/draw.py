"""Annotated copies of photos: boxes, mask and gender labels with their probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge_runtime.types import Face

GREEN, RED, GREY = (40, 180, 60), (220, 50, 40), (160, 160, 160)


def face_caption(face: Face) -> str:
    """Short label, e.g. "WithMask 99% Female 96%" (video: "#3 WithMask ..."); the
    probability of each shown label."""
    track = f"#{face.track_id} " if face.track_id is not None else ""
    if face.mask is None:
        return f"{track}face {face.confidence:.0%}"
    caption = f"{track}{face.mask_label} {face.p_mask_label:.0%}"
    if face.gender is not None:
        caption += f" {face.gender} {face.p_gender:.0%}"
    return caption


def draw(image: np.ndarray, faces: Sequence[Face], line_width: int | None = None) -> np.ndarray:
    """A copy of the RGB image with every face boxed and captioned; the input is untouched."""
    out = image.copy()
    height, width = out.shape[:2]
    thickness = line_width or max(1, round(max(height, width) / 400))
    font_scale = max(0.35, max(height, width) / 1400)
    for face in faces:
        x1, y1, x2, y2 = (round(float(v)) for v in face.box)
        colour = GREY if face.mask is None else (GREEN if face.mask else RED)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        caption = face_caption(face)
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(y2 + th + base + 2, height - 1)
        tx = min(max(x1, 0), max(width - tw - 2, 0))
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 2, ty + base // 2), colour, -1)
        cv2.putText(
            out,
            caption,
            (tx + 1, ty - base // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out
