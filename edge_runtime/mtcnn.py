"""MTCNN face detection on ONNX Runtime: image pyramid -> P-Net -> R-Net -> O-Net.

The networks are ONNX files named by `edge_runtime.detectors` (the reference weights, or
R-Net and O-Net fine-tuned on masked faces). The steps around them are numpy and OpenCV,
written to give the same faces as `mtcnn.MTCNN().detect_faces` without TensorFlow.
R-Net and O-Net each run once per photo on all candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime import boxes as bx
from edge_runtime.detectors import (
    BORDER_RETRIES,
    DEFAULT_DETECTOR,
    DEFAULT_MAX_SIDE,
    DETECTORS,
)
from edge_runtime.manifest import DEFAULT_MODELS_DIR, verified_detector
from edge_runtime.sessions import InferenceSession, create_session, run_in_slices, worker_count

PNET_CELL = 12  # P-Net sees 12x12 windows...
PNET_STRIDE = 2  # ...every 2 pixels of the scaled image
RNET_SIZE = 24
ONET_SIZE = 48
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1 / 128
PYRAMIDS = ("area", "chained")
BORDER_GREY = (127, 127, 127)  # 0 after normalisation: the networks' neutral input
RETRY_MIN_FACE = 0.5  # border retries look for faces of this share of the shorter side up


@dataclass(frozen=True, slots=True)
class Detections:
    """Faces found in one image, best first. N may be 0.

    boxes: (N, 4) float32 x1, y1, x2, y2 in pixels of the input image (origin top left).
    scores: (N,) O-Net face probability.
    landmarks: (N, 5, 2) float32 x, y of left eye, right eye, nose, mouth left, mouth
        right, where left and right are as seen in the image.
    reference_boxes: (N, 4) the same faces as the reference MTCNN would box them (equal to
        `boxes` for the reference detector): the boxes the classifiers' crops were cut
        around in training. Converted before clipping, so faces cut by the photo's edge
        convert right.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    reference_boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def normalize(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> the networks' float32 input scale, (pixel - 127.5) / 128.

    One OpenCV pass (pixel * 1/128 - 127.5/128, both exact in float32): 20x faster than
    the same arithmetic in numpy on a VGA photo, with equal results.
    """
    return cv2.addWeighted(
        image, PIXEL_SCALE, image, 0.0, -PIXEL_MEAN * PIXEL_SCALE, dtype=cv2.CV_32F
    )


def scale_pyramid(height: int, width: int, min_face_size: float, factor: float) -> np.ndarray:
    """Scales at which P-Net's 12 px window sees faces from `min_face_size` up (reference
    rule), leaving out levels smaller than the window (a large `min_face_size` on a small
    photo)."""
    count = round(-((np.log(min(height, width) / PNET_CELL) / np.log(factor)) + 1))
    scales = (PNET_CELL / min_face_size) * factor ** np.arange(max(count, 0))
    return scales[np.floor(min(height, width) * scales) >= PNET_CELL]


def pyramid_level(normalized: np.ndarray, scale: float) -> np.ndarray:
    """The image at one scale, resized from the full image (INTER_AREA), as the reference
    does: the "area" pyramid, which the reference weights need (on the "chained" one their
    20-40 px recall on the scenes_voc test split fell from 55.6% to 50.0%)."""
    height, width = normalized.shape[:2]
    size = (int(width * scale), int(height * scale))
    return cv2.resize(normalized, size, interpolation=cv2.INTER_AREA)


def pyramid(normalized: np.ndarray, scales: np.ndarray, method: str = "area") -> list[np.ndarray]:
    """The image at every scale. "area": each level from the full image (`pyramid_level`).
    "chained": each level resized bilinearly from the one before (the first from the image,
    by area if it shrinks by more than half); every step then shrinks by 0.709, so every
    pixel still counts, at 0.2 ms instead of 5 ms for a VGA photo's 10 levels. The student
    P-Net (`python -m train pnet`) learns on the pyramid it runs on."""
    if method == "area":
        return [pyramid_level(normalized, s) for s in scales]
    if method != "chained":
        raise ValueError(f"unknown pyramid {method!r}; choose from {PYRAMIDS}")
    height, width = normalized.shape[:2]
    levels, source = [], normalized
    for i, scale in enumerate(scales):
        steep = i == 0 and scale < 0.5
        size = (int(width * scale), int(height * scale))
        interpolation = cv2.INTER_AREA if steep else cv2.INTER_LINEAR
        source = cv2.resize(source, size, interpolation=interpolation)
        levels.append(source)
    return levels


def working_copy(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """The image shrunk by area so that its longer side is at most `max_side`, and the
    factor applied (the image itself and 1.0 when it fits, or when max_side is None)."""
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image, 1.0
    shrink = max_side / max(height, width)
    size = (max(round(width * shrink), 1), max(round(height * shrink), 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), shrink


def pnet_boxes(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """P-Net cells above threshold -> regressed boxes in image pixels: rows x1 y1 x2 y2 score."""
    score = prob[0, :, :, 1]
    ys, xs = np.nonzero(score > threshold)
    offsets = reg[0, ys, xs]
    span = PNET_CELL - 1
    x1 = xs * PNET_STRIDE + 1 + offsets[:, 0] * span
    y1 = ys * PNET_STRIDE + 1 + offsets[:, 1] * span
    x2 = xs * PNET_STRIDE + PNET_CELL + offsets[:, 2] * span
    y2 = ys * PNET_STRIDE + PNET_CELL + offsets[:, 3] * span
    rows = np.stack([x1, y1, x2, y2, score[ys, xs]], axis=1).astype(np.float64)
    rows = rows[bx.sort_by_score(rows[:, 4])]
    rows[:, :4] /= scale
    return rows


REMAP_MAX_ROWS = 32767  # cv2.remap wants maps of fewer rows than SHRT_MAX


def crop_and_resize(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Bilinear patches (N, size, size, C) of float32 `image` inside `boxes`, zero outside it.

    Same sampling as tf.image.crop_and_resize with boxes normalised by the image size,
    which is what the reference uses to feed R-Net and O-Net: the sample points are
    computed here and `cv2.remap` samples every patch (11x faster than numpy gathers for
    400 candidates; values equal within 3e-5), in blocks of under 32767 rows, its limit.
    """
    height, width, channels = image.shape
    count = len(boxes)
    steps = np.arange(size) / (size - 1)
    y = (boxes[:, 1:2] / height + steps * (boxes[:, 3:4] - boxes[:, 1:2]) / height) * (height - 1)
    x = (boxes[:, 0:1] / width + steps * (boxes[:, 2:3] - boxes[:, 0:1]) / width) * (width - 1)
    map_x = np.broadcast_to(x[:, None, :], (count, size, size)).astype(np.float32)
    map_y = np.broadcast_to(y[:, :, None], (count, size, size)).astype(np.float32)
    patches = np.empty((count, size, size, channels), image.dtype)
    block = (REMAP_MAX_ROWS - 1) // size
    for start in range(0, count, block):
        part = slice(start, start + block)
        patches[part] = cv2.remap(
            image,
            map_x[part].reshape(-1, size),
            map_y[part].reshape(-1, size),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        ).reshape(-1, size, size, channels)
    inside = ((y >= 0) & (y <= height - 1))[:, :, None] & ((x >= 0) & (x <= width - 1))[:, None, :]
    patches[~inside] = 0
    return patches


def landmark_points(rows: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """O-Net's landmark output (N, 10), fractions of each box, -> (N, 5, 2) image pixels."""
    w = (rows[:, 2] - rows[:, 0] + 1)[:, None]
    h = (rows[:, 3] - rows[:, 1] + 1)[:, None]
    xs = w * marks[:, :5] + rows[:, 0:1] - 1
    ys = h * marks[:, 5:] + rows[:, 1:2] - 1
    return np.stack([xs, ys], axis=2)


class MTCNN:
    """Face detector; thresholds and sizes are fixed at construction, `detect` is the main verb.

    detector: a name in DETECTORS (default: the fine-tuned one, as `Pipeline`'s).
    thresholds: P-Net, R-Net and O-Net face probabilities (default: the ones stored with
    the detector in the manifest); threshold replaces the O-Net one alone. min_face: the
    smallest face looked for, px.
    max_side: detect on a copy of the photo shrunk to this longer side when it is larger
    (boxes come back in the photo's pixels; the smallest face found grows in proportion,
    e.g. 42 px on a 4000x3000 photo); None or 0 keeps every photo at full resolution.
    border_retries: when nothing is found, (border, O-Net threshold or None) in turn: detect
    again with that share of the longer side added around the photo in grey (() never;
    None: `BORDER_RETRIES`, none for the reference detector, which stays the reference).
    A threshold of the user's, given here or to `detect`, replaces the retries' own.
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        detector: str = DEFAULT_DETECTOR,
        min_face: float = 20,
        threshold: float | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        thresholds: Sequence[float] | None = None,
        scale_factor: float = 0.709,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        border_retries: Sequence[tuple[float, float | None]] | None = None,
    ) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose from {sorted(DETECTORS)}")
        models_dir = Path(models_dir) if models_dir else DEFAULT_MODELS_DIR
        self.min_face = float(min_face)
        self.scale_factor = float(scale_factor)
        self.max_side = max_side or None
        if border_retries is None:  # the reference stays face for face the `mtcnn` package
            border_retries = () if detector == "mtcnn" else BORDER_RETRIES
        if threshold is not None or thresholds:  # a user's own O-Net threshold holds there too
            border_retries = [(border, None) for border, _ in border_retries]
        self.border_retries = tuple(border_retries)
        paths, entry = verified_detector(models_dir, detector)
        if not thresholds:  # the detector's own, stored with it in the manifest
            thresholds = entry.thresholds
        if threshold is not None:
            thresholds = (*thresholds[:2], threshold)
        self.thresholds = tuple(float(t) for t in thresholds)
        # A student P-Net's own threshold on the levels for large faces: it is less sure of
        # the few large faces it learnt from, and those levels have few cells to pass on.
        large = entry.large_faces
        self.large_faces = (large.from_px, large.threshold) if large else None
        # The pyramid its P-Net learnt on.
        self.pyramid = entry.pyramid
        if self.pyramid not in PYRAMIDS:
            raise ValueError(f"{detector}: unknown pyramid {self.pyramid!r} in the manifest")
        # How the reference MTCNN would draw this detector's boxes (None: it is the reference).
        self.reference_box = entry.reference_box
        # The networks are small: pyramid levels and slices of the R-Net / O-Net batch
        # run side by side on `threads` workers with one ONNX Runtime thread each, which
        # keeps the cores busier than splitting every small convolution between them.
        self.workers = worker_count(threads)
        self.pnet, self.rnet, self.onet = (
            create_session(path, providers, threads=1) for path in paths.values()
        )
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mtcnn")

    def close(self) -> None:
        """Stop the worker threads that run pyramid levels and patch slices."""
        self._pool.shutdown()

    def detect(
        self,
        image: np.ndarray,
        *,
        min_face: float | None = None,
        threshold: float | None = None,
        max_side: int | None = None,
    ) -> Detections:
        """Every face in an RGB uint8 image (H, W, 3) of any size and aspect ratio. When
        none is found, again on copies with a border (`border_retries`), looking for faces
        of at least half the photo's shorter side only: a close-up whose face runs past the
        frame is found there (its box clipped to the photo). min_face, threshold and
        max_side replace the detector's own for this image (None: its own; max_side 0:
        full resolution)."""
        height, width = image.shape[:2]
        min_face = self.min_face if min_face is None else float(min_face)
        max_side = self.max_side if max_side is None else max_side or None
        found, scores, landmarks = self._find(image, threshold, min_face, max_side)
        for border, retry_threshold in self.border_retries:
            if len(scores):
                break
            pad = round(border * max(height, width))
            framed = cv2.copyMakeBorder(
                image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=BORDER_GREY
            )
            if threshold is not None:  # this photo's own holds there too
                retry_threshold = threshold
            large = max(min_face, RETRY_MIN_FACE * min(height, width))
            found, scores, landmarks = self._find(
                framed, retry_threshold, large, max_side, in_photo_pixels=True
            )
            found, landmarks = found - pad, landmarks - pad
        if not len(scores):
            none = np.zeros((0, 4), np.float32)
            return Detections(none, np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32), none)
        boxes = bx.clip_to_image(found, height, width).astype(np.float32)
        reference = boxes
        if self.reference_box:
            shift, scale = self.reference_box.shift, self.reference_box.scale
            reference = bx.clip_to_image(bx.change_convention(found, shift, scale), height, width)
        return Detections(
            boxes,
            scores.astype(np.float32),
            landmarks.astype(np.float32),
            reference.astype(np.float32),
        )

    def _find(
        self,
        image: np.ndarray,
        threshold: float | None,
        min_face: float,
        max_side: int | None,
        in_photo_pixels: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (unclipped), scores and landmarks in the image's pixels, best first;
        `threshold` replaces O-Net's own. `min_face`: the smallest face in pixels of the
        working copy (shrunk to `max_side`, so a large photo costs what the copy costs), or
        of `image` itself if `in_photo_pixels`."""
        image, shrink = working_copy(image, max_side)
        normalized = normalize(image)
        candidates = self.propose(normalized, min_face * shrink if in_photo_pixels else min_face)
        if len(candidates):
            candidates = self.refine(normalized, candidates)
        if not len(candidates):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        found, scores, landmarks = self._output(normalized, candidates, threshold)
        return found / shrink, scores, landmarks / shrink

    def propose(self, normalized: np.ndarray, min_face: float | None = None) -> np.ndarray:
        """Stage 1: P-Net over the pyramid; square candidate boxes with scores (M, 5)."""
        height, width = normalized.shape[:2]
        min_face = self.min_face if min_face is None else min_face
        scales = scale_pyramid(height, width, min_face, self.scale_factor)
        if not len(scales):
            return np.zeros((0, 5))
        if self.pyramid == "area":  # each worker resizes its own levels: area is costly
            levels = [normalized] * len(scales)
            per_scale = list(self._pool.map(self._pnet_area_level, levels, scales))
        else:
            levels = pyramid(normalized, scales, self.pyramid)
            per_scale = list(self._pool.map(self._pnet_level, levels, scales))
        rows = np.concatenate(per_scale)
        rows = rows[bx.sort_by_score(rows[:, 4])]
        rows = rows[bx.nms(rows[:, :4], 0.7)]
        rows[:, :4] = bx.to_square(rows[:, :4])
        return rows

    def pnet_threshold(self, scale: float) -> float:
        """P-Net's face threshold on the pyramid level at `scale` (its windows are
        PNET_CELL / scale pixels of the photo)."""
        if self.large_faces and PNET_CELL / scale >= self.large_faces[0]:
            return self.large_faces[1]
        return self.thresholds[0]

    def _pnet_area_level(self, normalized: np.ndarray, scale: float) -> np.ndarray:
        """`_pnet_level` on the image resized here, in the worker, by area."""
        return self._pnet_level(pyramid_level(normalized, scale), scale)

    def _pnet_level(self, scaled: np.ndarray, scale: float) -> np.ndarray:
        """P-Net on one pyramid level: its boxes after the per-level NMS."""
        planar = np.ascontiguousarray(scaled.transpose(2, 0, 1)[None])
        reg, prob = self.pnet.run(["box_reg", "face_prob"], {"input": planar})
        rows = pnet_boxes(reg, prob, scale, self.pnet_threshold(scale))
        return rows[bx.nms(rows[:, :4], 0.5)]

    def _run_on_patches(
        self,
        session: InferenceSession,
        outputs: Sequence[str],
        normalized: np.ndarray,
        rows: np.ndarray,
        size: int,
    ) -> list[np.ndarray]:
        """Crop every candidate and run the network once per worker on its slice of the batch."""

        def run(part: np.ndarray) -> list[np.ndarray]:
            patches = crop_and_resize(normalized, part, size)
            return session.run(list(outputs), {"input": patches.transpose(0, 3, 1, 2).copy()})

        return run_in_slices(self._pool, run, rows[:, :4], self.workers)

    def refine(self, normalized: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on all candidates at once; regressed, filtered, squared (K, 5)."""
        reg, prob = self._run_on_patches(
            self.rnet, ("box_reg", "face_prob"), normalized, rows, RNET_SIZE
        )
        rows = np.concatenate([bx.apply_regression(rows[:, :4], reg), prob[:, 1:2]], axis=1)
        rows = rows[rows[:, 4] > self.thresholds[1]]
        rows = rows[bx.sort_by_score(rows[:, 4])]
        rows = rows[bx.nms(rows[:, :4], 0.7)]
        rows[:, :4] = bx.to_square(rows[:, :4])
        return rows

    def landmarks(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """O-Net's five landmarks (N, 5, 2) for face boxes found elsewhere (e.g. annotated)."""
        if not len(boxes):
            return np.zeros((0, 5, 2), np.float32)
        normalized = normalize(image)
        rows = bx.to_square(np.asarray(boxes, np.float64)[:, :4])
        (marks,) = self._run_on_patches(self.onet, ("landmarks",), normalized, rows, ONET_SIZE)
        return landmark_points(rows, marks).astype(np.float32)

    def _output(
        self, normalized: np.ndarray, rows: np.ndarray, threshold: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-Net on all candidates at once; final boxes, scores and landmarks."""
        reg, marks, prob = self._run_on_patches(
            self.onet, ("box_reg", "landmarks", "face_prob"), normalized, rows, ONET_SIZE
        )
        landmarks = landmark_points(rows, marks)
        found = bx.apply_regression(rows[:, :4], reg)
        scores = prob[:, 1].astype(np.float64)
        keep = np.flatnonzero(scores > (self.thresholds[2] if threshold is None else threshold))
        keep = keep[bx.sort_by_score(scores[keep])]
        keep = keep[bx.nms(found[keep], 0.7, method="min")]
        return found[keep], scores[keep], landmarks[keep]
