"""Result types: one Face per detected face, one Result per image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Face:
    """A face and what the cascade says about it.

    box: x1, y1, x2, y2 in pixels of the photo. landmarks: (5, 2) x, y of left eye, right
    eye, nose, mouth left, mouth right (as seen in the image). p_mask: probability that the
    face wears a mask. gender: "Female" or "Male", decided by the gender model that fits
    the mask decision; p_gender: that model's probability for the gender it reports.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    mask: bool | None = None
    p_mask: float | None = None
    gender: str | None = None
    p_gender: float | None = None

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """Box as x, y, width, height."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return x1, y1, x2 - x1, y2 - y1

    @property
    def mask_label(self) -> str | None:
        """ "WithMask" / "WithoutMask", the mask model's class names."""
        return None if self.mask is None else ("WithMask" if self.mask else "WithoutMask")

    @property
    def p_mask_label(self) -> float | None:
        """Probability of `mask_label`: p_mask for WithMask, 1 - p_mask for WithoutMask."""
        if self.mask is None or self.p_mask is None:
            return None
        return self.p_mask if self.mask else 1.0 - self.p_mask

    def to_dict(self) -> dict:
        """JSON-ready: box as x, y, w, h rounded to 0.1 px, probabilities to 4 digits."""
        return {
            "box": [round(v, 1) for v in self.xywh],
            "confidence": round(float(self.score), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "mask": self.mask,
            "p_mask": None if self.p_mask is None else round(self.p_mask, 4),
            "gender": self.gender,
            "p_gender": None if self.p_gender is None else round(self.p_gender, 4),
        }


@dataclass(slots=True)
class Result:
    """Everything found in one image, with milliseconds spent per stage."""

    path: str | None
    orig_shape: tuple[int, int]
    faces: list[Face]
    speed: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "orig_shape": list(self.orig_shape),
            "faces": [f.to_dict() for f in self.faces],
            "speed_ms": {k: round(v, 2) for k, v in self.speed.items()},
        }
