"""Annotated copies of photos: numbered boxes with mask and gender labels, placed to cover
as little as they can of each other and of the faces (shorter labels in a crowd), in text
sized to the photo; faces optionally blurred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge_runtime.types import Face

GREEN, RED, GREY = (40, 180, 60), (220, 50, 40), (160, 160, 160)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def face_caption(face: Face, number: int | None = None, detail: int = 2) -> str:
    """The label, e.g. "2 WithMask 99% Female 96%": the face's number in the Result (as
    in the CLI's lines and the JSON's order), its track in video ("2 #7 ..."), and the
    probability of each shown label. Crowds get less: `detail` 1 "2 F" (the box's colour
    says mask or not), 0 the number alone."""
    parts = [] if number is None else [str(number)]
    if face.track_id is not None and detail > 0:
        parts.append(f"#{face.track_id}")
    if detail == 1:
        if face.gender is not None:
            parts.append(face.gender[0])
    elif detail == 0:
        pass
    elif face.labels is None:
        parts.append(f"face {face.confidence:.0%}")
    else:
        labels = face.labels
        parts.append(f"{labels.mask_label} {labels.p_mask_label:.0%}")
        parts.append(f"{labels.gender} {labels.p_gender:.0%}")
    return " ".join(parts)


def text_style(height: int, width: int) -> tuple[float, int]:
    """Font scale and box line width for a photo: readable at 400 px, not huge at 4000."""
    side = max(height, width)
    return max(0.35, min(side / 1000, 1.6)), max(1, round(side / 500))


def overlap_area(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """Pixels two x1, y1, x2, y2 rectangles share."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def place_labels(
    boxes: Sequence[tuple[int, int, int, int]],
    sizes: Sequence[tuple[int, int]],
    height: int,
    width: int,
) -> tuple[list[tuple[int, int, int, int]], int]:
    """A rectangle per label (x1, y1, x2, y2): above its box, below it, inside its top or
    beside it, whichever covers the least of the other labels and faces (greedy, in the
    given order), kept inside the photo; and the area they cover of each other and of
    other faces (0: nothing hidden)."""
    placed: list[tuple[int, int, int, int]] = []
    hidden = 0
    for i, ((x1, y1, x2, y2), (tw, th)) in enumerate(zip(boxes, sizes, strict=True)):
        candidates = [
            (x1, y1 - th),  # above
            (x1, y2),  # below
            (x1, y1),  # inside, at the top
            (x2, y1),  # right
            (x1 - tw, y1),  # left
            (x2 - tw, y1 - th),  # above, right-aligned
            (x2 - tw, y2),  # below, right-aligned
            (x1 - tw, y1 - th),  # above left
            (x2, y1 - th),  # above right
            (x1 - tw, y2),  # below left
            (x2, y2),  # below right
            (x1, y2 - th),  # inside, at the bottom
        ]
        others = [b for j, b in enumerate(boxes) if j != i]
        best, best_cost = None, None
        for k, (tx, ty) in enumerate(candidates):
            tx = min(max(tx, 0), max(width - tw, 0))
            ty = min(max(ty, 0), max(height - th, 0))
            rect = (tx, ty, tx + tw, ty + th)
            covered = 4 * sum(overlap_area(rect, p) for p in placed)
            covered += 2 * sum(overlap_area(rect, b) for b in others)
            cost = covered + overlap_area(rect, (x1, y1, x2, y2)) // 4 + k  # own face; the order
            if best_cost is None or cost < best_cost:
                best, best_cost, best_covered = rect, cost, covered
        placed.append(best)
        hidden += best_covered
    return placed, hidden


def draw(
    image: np.ndarray,
    faces: Sequence[Face],
    line_width: int | None = None,
    blur: bool = False,
) -> np.ndarray:
    """A copy of the RGB image with every face boxed, numbered and labelled (`blur`: each
    face blurred first, for privacy); the input is untouched."""
    out = image.copy()
    height, width = out.shape[:2]
    font_scale, thickness = text_style(height, width)
    thickness = line_width or thickness
    boxes = [
        tuple(
            round(min(max(float(v), 0), limit))
            for v, limit in zip(face.box, (width - 1, height - 1) * 2, strict=True)
        )
        for face in faces
    ]
    if blur:
        for x1, y1, x2, y2 in boxes:
            blur_region(out, x1, y1, x2, y2)
    pad = max(2, round(3 * font_scale))
    weight = max(1, round(font_scale))
    for detail in (2, 1, 0):  # the fullest labels that hide nothing; numbers at least
        captions = [face_caption(face, n, detail) for n, face in enumerate(faces, 1)]
        sizes = []
        for caption in captions:
            (tw, th), base = cv2.getTextSize(caption, FONT, font_scale, weight)
            sizes.append((tw + 2 * pad, th + base + 2 * pad))
        labels, hidden = place_labels(boxes, sizes, height, width)
        if hidden == 0:
            break
    colours = [GREY if f.mask is None else (GREEN if f.mask else RED) for f in faces]
    for box, colour in zip(boxes, colours, strict=True):  # every box first, labels on top
        cv2.rectangle(out, box[:2], box[2:], colour, thickness, cv2.LINE_AA)
    for colour, caption, (lx1, ly1, lx2, ly2) in zip(colours, captions, labels, strict=True):
        cv2.rectangle(out, (lx1, ly1), (lx2 - 1, ly2 - 1), colour, -1)
        (_, th), _ = cv2.getTextSize(caption, FONT, font_scale, weight)
        origin = (lx1 + pad, ly1 + pad + th)
        cv2.putText(out, caption, origin, FONT, font_scale, (255, 255, 255), weight, cv2.LINE_AA)
    return out


def blur_region(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> None:
    """Blur a face in place so strongly that it cannot be recognised (mosaic, then blur)."""
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    face = image[y1:y2, x1:x2]
    cells = 8
    small = cv2.resize(face, (cells, cells), interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    kernel = max(3, (min(x2 - x1, y2 - y1) // cells) | 1)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(mosaic, (kernel, kernel), 0)
