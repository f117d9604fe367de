"""Result types: one Face per detected face, one Result per image (the package's answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The classifiers' class names (the manifest's `class_names`, alphabetical): each model
# outputs the probability of the second, and p > its threshold means that one.
MASK_CLASSES = ("WithMask", "WithoutMask")
GENDER_CLASSES = ("Female", "Male")


@dataclass(frozen=True, slots=True)
class Labels:
    """A face's mask and gender: the decided labels and the models' raw probabilities.

    p_without_mask: the mask model's P(WithoutMask); p_male: P(Male) from the gender model
    that ran. In a track both are means over frames and the labels come from hysteresis, so
    the labels are stored, not derived. Every shown probability is derived here, once.
    """

    mask: bool
    p_without_mask: float
    gender: str
    p_male: float

    @property
    def p_mask(self) -> float:
        """P(WithMask)."""
        return 1.0 - self.p_without_mask

    @property
    def mask_label(self) -> str:
        """The mask model's class name for the decided label."""
        return MASK_CLASSES[0 if self.mask else 1]

    @property
    def p_mask_label(self) -> float:
        """Probability of `mask_label`."""
        return self.p_mask if self.mask else self.p_without_mask

    @property
    def p_gender(self) -> float:
        """Probability of the gender shown."""
        return self.p_male if self.gender == GENDER_CLASSES[1] else 1.0 - self.p_male

    def to_dict(self) -> dict:
        """The JSON's labels: mask, P(mask), gender and P(gender shown), to 4 digits."""
        return {
            "mask": self.mask,
            "p_mask": round(self.p_mask, 4),
            "gender": self.gender,
            "p_gender": round(self.p_gender, 4),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Labels:
        """Labels back from `to_dict`'s keys (e.g. a track in a video's summary)."""
        male = data["gender"] == GENDER_CLASSES[1]
        return cls(
            data["mask"],
            1.0 - data["p_mask"],
            data["gender"],
            data["p_gender"] if male else 1.0 - data["p_gender"],
        )


_NO_LABELS = dict.fromkeys(("mask", "p_mask", "gender", "p_gender"))


@dataclass(slots=True)
class Face:
    """A face and what the cascade says about it.

    box: x1, y1, x2, y2 in pixels of the photo (`xywh` gives x, y, width, height, as the
    JSON does). confidence: the detector's face probability. landmarks: (5, 2) x, y of left
    eye, right eye, nose, mouth left, mouth right (as seen in the image). labels: the
    decided mask and gender with the models' raw probabilities (`Labels`; None when only
    faces were asked for), read as `mask`, `p_mask`, `mask_label`, `gender`, `p_gender` (of
    the gender shown); the gender comes from the model that fits the mask decision.
    In video (`edge_runtime.tracking`): track_id links a face across frames, the labels
    are the track's (smoothed) and `frame` keeps this frame's own.
    """

    box: np.ndarray
    confidence: float
    landmarks: np.ndarray
    labels: Labels | None = None
    track_id: int | None = None
    frame: Labels | None = None

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """Box as x, y, width, height."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return x1, y1, x2 - x1, y2 - y1

    @property
    def mask(self) -> bool | None:
        """Whether the face wears a mask."""
        return None if self.labels is None else self.labels.mask

    @property
    def gender(self) -> str | None:
        """The gender shown (a class name of the gender models)."""
        return None if self.labels is None else self.labels.gender

    @property
    def p_without_mask(self) -> float | None:
        """The mask model's P(WithoutMask)."""
        return None if self.labels is None else self.labels.p_without_mask

    @property
    def p_male(self) -> float | None:
        """P(Male) from the gender model that ran."""
        return None if self.labels is None else self.labels.p_male

    @property
    def p_mask(self) -> float | None:
        """P(WithMask)."""
        return None if self.labels is None else self.labels.p_mask

    @property
    def p_gender(self) -> float | None:
        """Probability of the gender shown."""
        return None if self.labels is None else self.labels.p_gender

    @property
    def mask_label(self) -> str | None:
        """The mask model's class name for the mask decision."""
        return None if self.labels is None else self.labels.mask_label

    @property
    def p_mask_label(self) -> float | None:
        """Probability of `mask_label`."""
        return None if self.labels is None else self.labels.p_mask_label

    def to_dict(self) -> dict:
        """JSON-ready: box as x, y, w, h rounded to 0.1 px, probabilities to 4 digits;
        `track_id` and `frame` (this frame's own labels) only for tracked faces."""
        out = {
            "box": [round(v, 1) for v in self.xywh],
            "confidence": round(float(self.confidence), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            **(_NO_LABELS if self.labels is None else self.labels.to_dict()),
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
        if self.frame is not None:
            out["frame"] = self.frame.to_dict()
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
