"""Pipeline: photo -> faces (MTCNN) -> crops -> mask -> gender; the Python API of the package."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from edge_runtime.cascade import Cascade
from edge_runtime.detectors import DEFAULT_DETECTOR
from edge_runtime.image_io import DEFAULT_MAX_PIXELS, load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from edge_runtime.mtcnn import MTCNN
from edge_runtime.types import Face, Result


class Pipeline:
    """Every face in a photo with its box, mask decision and gender.

    >>> faces = Pipeline().predict("photo.jpg")
    >>> [(f.mask_label, f.gender) for f in faces]

    providers: ONNX Runtime provider names in order of preference (default CPU).
    threads: CPU threads per model (default: all cores).
    detector: "finetuned" (MTCNN fine-tuned on masked faces) or "mtcnn" (the reference).
    face_threshold: O-Net's face probability threshold (default: the detector's own).
    classify: False to find faces only (no mask or gender models are loaded).
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        min_face_size: float = 20,
        face_threshold: float | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        classify: bool = True,
        detector: str = DEFAULT_DETECTOR,
    ) -> None:
        models_dir = Path(models_dir) if models_dir else DEFAULT_MODELS_DIR
        self.max_pixels = max_pixels
        self.detector = MTCNN(
            models_dir,
            min_face_size=min_face_size,
            providers=providers,
            threads=threads,
            detector=detector,
            face_threshold=face_threshold,
        )
        self.cascade = Cascade(models_dir, providers, threads) if classify else None

    def predict(self, image: np.ndarray | str | Path) -> list[Face]:
        """Faces in one photo (a path, or an RGB uint8 array (H, W, 3)), best detection first."""
        return self.run(image).faces

    def run(self, image: np.ndarray | str | Path, path: str | None = None) -> Result:
        """Like predict, with the photo's size and the milliseconds per stage."""
        timings: dict[str, float] = {}
        if not isinstance(image, np.ndarray):
            path = path or str(image)
            t = time.perf_counter()
            image = load_image(image, self.max_pixels)
            timings["decode"] = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        found = self.detector.detect(image)
        timings["detect"] = 1000 * (time.perf_counter() - t)
        faces = [
            Face(found.boxes[i], float(found.scores[i]), found.landmarks[i])
            for i in range(len(found))
        ]
        if self.cascade is not None:
            self.cascade.classify(image, faces, timings, found.reference_boxes)
        timings["total"] = sum(timings.values())
        return Result(path, image.shape[:2], faces, timings)

    def predict_many(self, images: Iterable[np.ndarray | str | Path]) -> Iterator[Result]:
        """A Result per input, lazily; errors raise (the CLI catches them per input)."""
        for image in images:
            yield self.run(image)
