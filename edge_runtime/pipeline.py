"""Pipeline: photo -> faces (MTCNN) -> crops -> mask -> gender; the Python API of the package."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from edge_runtime.cascade import Cascade
from edge_runtime.detectors import DEFAULT_DETECTOR, DEFAULT_MAX_SIDE
from edge_runtime.image_io import DEFAULT_MAX_PIXELS, load_image, to_rgb
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from edge_runtime.mtcnn import MTCNN
from edge_runtime.types import Face, Result

if TYPE_CHECKING:
    from edge_runtime.streaming import StreamRun

Source = np.ndarray | str | Path | Image.Image


def rgb_array(image: np.ndarray, name: str | None = None) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array as it is; grayscale (H, W) and RGBA converted as files
    are (`image_io.to_rgb`: alpha over black); anything else a ValueError saying what it got."""
    if image.dtype == np.uint8 and image.size:
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 4):
            return to_rgb(Image.fromarray(image))
    raise ValueError(
        f"{name or 'array'}: expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}"
    )


class Pipeline:
    """Every face in a photo with its box, mask decision and gender.

    >>> pipeline = Pipeline()
    >>> result = pipeline("photo.jpg")  # a Result; a list or generator gives a generator
    >>> [(face.mask_label, face.gender) for face in result]
    >>> result.save("annotated.jpg")

    providers: ONNX Runtime provider names in order of preference (default CPU).
    threads: CPU threads per model (default: all cores).
    detector: "finetuned" (MTCNN fine-tuned on masked faces) or "mtcnn" (the reference).
    face_threshold: O-Net's face probability threshold (default: the detector's own).
    classify: False to find faces only (no mask or gender models are loaded).
    max_side: photos larger than this (longer side, px) are detected on a shrunk copy;
    None keeps full resolution (`edge_runtime.mtcnn.MTCNN`).
    border_retries: where no face is found, detect again on copies framed by a border
    (close-ups whose face runs past the photo); () never, None the detector's default.
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
        max_side: int | None = DEFAULT_MAX_SIDE,
        border_retries: Sequence[tuple[float, float | None]] | None = None,
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
            max_side=max_side,
            border_retries=border_retries,
        )
        self.cascade = Cascade(models_dir, providers, threads) if classify else None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the detector's and the classifiers' worker threads; `with Pipeline() as p:`
        does it on leaving the block."""
        self.detector.close()
        if self.cascade is not None:
            self.cascade.close()

    def __call__(self, source: Source | Iterable[Source]) -> Result | Iterator[Result]:
        """Same as `predict`."""
        return self.predict(source)

    def predict(self, source: Source | Iterable[Source]) -> Result | Iterator[Result]:
        """One image (a path, an RGB uint8 array (H, W, 3) or a PIL image) -> its Result;
        a list or generator of images -> a generator of Results (errors raise; `stream`
        turns them into failed Results instead). Faces come best detection first."""
        if isinstance(source, np.ndarray | str | Path | Image.Image):
            return self.run(source)
        return (self.run(image) for image in source)

    def stream(
        self,
        source: Source | Iterable[Source],
        *,
        track: bool = True,
        save: str | Path | None = None,
        blur: bool = False,
        smooth: bool = True,
        max_frames: int | None = None,
        vid_stride: int = 1,
        min_track: int = 3,
        realtime: bool = False,
    ) -> StreamRun:
        """Any source (image, array, folder, glob, video, camera index, or a list of them)
        -> an iterable of Results, one per photo or frame, videos and cameras tracked, and a
        Summary after each video, camera or folder. A failed input is a Result with `error`
        set, so one bad file does not stop the rest. `save`: a folder for annotated copies
        (`blur`: faces blurred in them). The rest: `edge_runtime.streaming.StreamRun`.

        >>> for item in Pipeline().stream("clip.mp4", save="out"):
        ...     print(item.to_json())
        """
        from edge_runtime.streaming import StreamRun

        if isinstance(source, np.ndarray | str | Path | Image.Image):
            source = [source]
        return StreamRun(
            self,
            source,
            track=track,
            save=save,
            blur=blur,
            smooth=smooth,
            max_frames=max_frames,
            vid_stride=vid_stride,
            min_track=min_track,
            realtime=realtime,
        )

    def warmup(self) -> None:
        """Build every ONNX Runtime session and run it once, so that the first real photo
        (a service's first request) is not the slow one."""
        self.detector.detect(np.zeros((480, 640, 3), np.uint8))
        if self.cascade is not None:
            self.cascade.warmup()

    def run(self, image: Source, path: str | None = None) -> Result:
        """The Result for one image; `path` names an array in the Result."""
        timings: dict[str, float] = {}
        if isinstance(image, Image.Image):
            image = to_rgb(image)
        if not isinstance(image, np.ndarray):
            path = path or str(image)
            t = time.perf_counter()
            image = load_image(image, self.max_pixels)
            timings["decode"] = 1000 * (time.perf_counter() - t)
        image = rgb_array(image, path)
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
        return Result(path, image.shape[:2], faces, timings, image)
