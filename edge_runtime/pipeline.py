"""Pipeline: photo -> faces (MTCNN) -> crops -> mask -> gender; the Python API of the package."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from edge_runtime.cascade import Cascade
from edge_runtime.image_io import load_image, to_rgb
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from edge_runtime.mtcnn import MTCNN
from edge_runtime.options import Options
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

    models: the models folder (default: the shipped models). providers: ONNX Runtime
    provider names in order of preference (default CPU). threads: CPU threads per model
    (default: all cores). The rest are `Options` by name (`detector`, `min_face`,
    `max_side`, `threshold`, `faces_only`, `no_flip`, `max_pixels`, `border_retries`), kept in
    `self.options`; an unknown name raises TypeError.
    """

    def __init__(
        self,
        models: str | Path | None = None,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        models = Path(models) if models else DEFAULT_MODELS_DIR
        self.options = Options().replace(**options)
        self.detector = MTCNN(
            models,
            providers=providers,
            threads=threads,
            detector=self.options.detector,
            min_face=self.options.min_face,
            threshold=self.options.threshold,
            max_side=self.options.max_side,
            border_retries=self.options.border_retries,
        )
        faces_only = self.options.faces_only
        self.cascade = None if faces_only else Cascade(models, providers, threads)

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

    def __call__(
        self, source: Source | Iterable[Source], **options: Any
    ) -> Result | Iterator[Result]:
        """Same as `predict`."""
        return self.predict(source, **options)

    def predict(
        self, source: Source | Iterable[Source], **options: Any
    ) -> Result | Iterator[Result]:
        """One image (a path, an RGB uint8 array (H, W, 3) or a PIL image) -> its Result;
        a list or generator of images -> a generator of Results (errors raise; `stream`
        turns them into failed Results instead). Faces come best detection first.
        `options`: per-photo `Options`, as `run` takes them."""
        if isinstance(source, np.ndarray | str | Path | Image.Image):
            return self.run(source, **options)
        self.options.per_call(**options)  # bad options raise here, not at the first image
        return (self.run(image, **options) for image in source)

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

    def run(self, image: Source, path: str | None = None, **options: Any) -> Result:
        """The Result for one image; `path` names an array in the Result. `options`: the
        per-photo `Options` (`Options.PER_CALL`) for this image alone."""
        settings = self.options.per_call(**options) if options else self.options
        if not settings.faces_only and self.cascade is None:
            raise ValueError("the mask and gender models were not loaded (faces_only=True)")
        timings: dict[str, float] = {}
        if isinstance(image, Image.Image):
            image = to_rgb(image)
        if not isinstance(image, np.ndarray):
            path = path or str(image)
            t = time.perf_counter()
            image = load_image(image, settings.max_pixels)
            timings["decode"] = 1000 * (time.perf_counter() - t)
        image = rgb_array(image, path)
        t = time.perf_counter()
        found = self.detector.detect(
            image,
            min_face=settings.min_face,
            threshold=settings.threshold,
            max_side=settings.max_side,
        )
        timings["detect"] = 1000 * (time.perf_counter() - t)
        faces = [
            Face(found.boxes[i], float(found.scores[i]), found.landmarks[i])
            for i in range(len(found))
        ]
        if not settings.faces_only:
            self.cascade.classify(image, faces, timings, found.reference_boxes, settings.no_flip)
        timings["total"] = sum(timings.values())
        return Result(path, image.shape[:2], faces, timings, image)
