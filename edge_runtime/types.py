"""Result types: one Face per detected face, one Result per image (the package's answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(slots=True)
class Face:
    """A face and what the cascade says about it.

    box: x1, y1, x2, y2 in pixels of the photo (`xywh` gives x, y, width, height, as the
    JSON does). confidence: the detector's face probability. landmarks: (5, 2) x, y of left
    eye, right eye, nose, mouth left, mouth right (as seen in the image). mask: whether the
    face wears a mask, `mask_label` the mask model's class name for it; p_mask: probability
    of a mask. gender: the gender model's class name, decided by the model that fits the
    mask decision; p_gender: that model's probability for the gender it reports.
    In video (`edge_runtime.tracking`): track_id links a face across frames, the labels
    are the track's (smoothed) and `frame` keeps this frame's own.
    """

    box: np.ndarray
    confidence: float
    landmarks: np.ndarray
    mask: bool | None = None
    p_mask: float | None = None
    gender: str | None = None
    p_gender: float | None = None
    mask_label: str | None = None
    track_id: int | None = None
    frame: dict | None = None

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """Box as x, y, width, height."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return x1, y1, x2 - x1, y2 - y1

    @property
    def p_mask_label(self) -> float | None:
        """Probability of `mask_label`: p_mask for a masked face, 1 - p_mask otherwise."""
        if self.mask is None or self.p_mask is None:
            return None
        return self.p_mask if self.mask else 1.0 - self.p_mask

    def to_dict(self) -> dict:
        """JSON-ready: box as x, y, w, h rounded to 0.1 px, probabilities to 4 digits;
        `track_id` and `frame` (this frame's own labels) only for tracked faces."""
        out = {
            "box": [round(v, 1) for v in self.xywh],
            "confidence": round(float(self.confidence), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "mask": self.mask,
            "p_mask": None if self.p_mask is None else round(self.p_mask, 4),
            "gender": self.gender,
            "p_gender": None if self.p_gender is None else round(self.p_gender, 4),
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
        if self.frame is not None:
            out["frame"] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in self.frame.items()
            }
        return out


@dataclass(slots=True, repr=False)
class Result:
    """Everything found in one image: its faces (iterate, index, `len`), milliseconds per
    stage (`speed`), and the image itself, so the result can draw and save itself. An
    input that could not be read (`Pipeline.stream`) has `error` set and no faces."""

    path: str | None
    orig_shape: tuple[int, int]
    faces: list[Face]
    speed: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None
    error: str | None = None

    @classmethod
    def failed(cls, path: str | None, error: str) -> Result:
        """The Result of an input that could not be read: its path and the reason."""
        return cls(path, (0, 0), [], error=error)

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self) -> Iterator[Face]:
        return iter(self.faces)

    def __getitem__(self, index: int) -> Face:
        return self.faces[index]

    def __repr__(self) -> str:
        if self.error is not None:
            return f"Result({self.path}, error: {self.error})"
        labels = ", ".join(
            f"{f.mask_label} {f.gender}" if f.mask is not None else f"face {f.confidence:.2f}"
            for f in self.faces
        )
        height, width = self.orig_shape
        total = self.speed.get("total")
        timing = f", {total:.1f} ms" if total is not None else ""
        return (
            f"Result({self.path or 'array'}, {width}x{height}, {len(self.faces)} faces"
            f"{': ' + labels if labels else ''}{timing})"
        )

    def to_dict(self) -> dict:
        """The CLI's JSON object for this image; `{"path", "error"}` for a failed input."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "orig_shape": list(self.orig_shape),
            "faces": [f.to_dict() for f in self.faces],
            "speed_ms": {k: round(v, 2) for k, v in self.speed.items()},
        }

    def to_json(self, **kwargs) -> str:
        """`to_dict` as a JSON string (one line unless `indent` is given)."""
        return json.dumps(self.to_dict(), **kwargs)

    def plot(self, blur: bool = False) -> np.ndarray:
        """An annotated RGB copy of the image: numbered boxes, mask and gender labels;
        `blur` blurs every face (privacy), labels kept."""
        from edge_runtime.draw import draw

        if self.image is None:
            raise ValueError("this Result keeps no image to draw on")
        return draw(self.image, self.faces, blur=blur)

    def save(self, path: str | Path, blur: bool = False) -> Path:
        """Write the annotated image (JPEG or PNG by the suffix); returns the path."""
        from PIL import Image

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.plot(blur)).save(path, quality=92)
        return path
