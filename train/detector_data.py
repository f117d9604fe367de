"""Training samples for MTCNN's R-Net and O-Net, made the way the MTCNN paper makes them.

Candidate windows come from the stage before (the miner's P-Net, then its R-Net with a
low threshold, so its near misses become hard negatives) and from random jitter around
every annotated face. The miner is the reference MTCNN or, once a student P-Net ships,
the default detector, so R-Net and O-Net learn the candidates they will be handed.
A window is a positive (IoU >= 0.65 with a face), a part face (0.4-0.65) or a negative
(< 0.3); the rest are dropped. Positives and part faces learn the box offsets to the
annotated box, so the detector learns the annotation's box convention. Face crops
without boxes (faces_mask) add positives for the face / no-face decision only. In
training photos, unmasked faces also get a synthetic mask (`train.synthetic_mask`, placed
by O-Net's landmarks) and their windows are mined again.
Photos are split by `train.prepare.split_of`, like the classifiers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_runtime import boxes as bx
from edge_runtime.image_io import IMAGE_SUFFIXES, ImageLoadError, load_image
from edge_runtime.mtcnn import MTCNN, ONET_SIZE, RNET_SIZE, crop_and_resize, normalize
from train.prepare import split_of
from train.synthetic_mask import draw_mask

IOU_POSITIVE, IOU_PART, IOU_NEGATIVE = 0.65, 0.4, 0.3
NEGATIVE, POSITIVE, PART, CROP = 0, 1, 2, 3  # CROP: a face crop, classification only
MIN_FACE = 12  # annotated faces smaller than this (px, longer side) give no positives
JITTER_PER_FACE = 20
NEGATIVES_PER_PHOTO = 100
HARD_NEGATIVES_PER_PHOTO = 100
UNMASKED_LABELS = {"without_mask"}


class NpzArrays:
    """A dataclass of arrays saved as one .npz file, a field an entry (base of Samples and
    `train.pnet.Tiles`)."""

    def save(self, path: Path) -> None:
        """One .npz file."""
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path):
        """Read what save wrote, as this class."""
        with np.load(path) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass
class Samples(NpzArrays):
    """Patches at R-Net and O-Net size (uint8 RGB), kinds and box offsets, one row a window."""

    rnet: np.ndarray  # (N, 24, 24, 3)
    onet: np.ndarray  # (N, 48, 48, 3)
    kind: np.ndarray  # (N,) NEGATIVE / POSITIVE / PART / CROP
    offsets: np.ndarray  # (N, 4) (annotated - window) / window size, +1 convention
    split: np.ndarray  # (N,) "train" / "val" / "test"


def box_offsets(windows: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Offsets that `boxes.apply_regression` turns `windows` into `faces` with."""
    w = windows[:, 2] - windows[:, 0] + 1
    h = windows[:, 3] - windows[:, 1] + 1
    return (faces - windows) / np.stack([w, h, w, h], axis=1)


def jitter(faces: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Square windows around each face: side 0.8-1.25 of its longer side, centre moved by
    up to 20% of it; the kind of window the stage before hands on."""
    side = bx.face_size(faces)
    cx = (faces[:, 0] + faces[:, 2]) / 2
    cy = (faces[:, 1] + faces[:, 3]) / 2
    side = np.repeat(side, count)
    scale = side * rng.uniform(0.8, 1.25, len(side))
    x = np.repeat(cx, count) + side * rng.uniform(-0.2, 0.2, len(side))
    y = np.repeat(cy, count) + side * rng.uniform(-0.2, 0.2, len(side))
    return np.stack([x - scale / 2, y - scale / 2, x + scale / 2, y + scale / 2], axis=1)


def label_windows(
    windows: np.ndarray, faces: np.ndarray, learnable: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kind, offsets to the best face, keep) for each window by its best IoU with a face.

    Windows on a face that is not `learnable` (too small) are dropped, not called background.
    """
    if not len(faces):
        kind = np.full(len(windows), NEGATIVE)
        return kind, np.zeros((len(windows), 4)), np.ones(len(windows), bool)
    iou = bx.pairwise_iou(windows, faces)
    best = iou.argmax(axis=1)
    top = iou[np.arange(len(windows)), best]
    kind = np.where(top >= IOU_POSITIVE, POSITIVE, np.where(top >= IOU_PART, PART, NEGATIVE))
    keep = ((top >= IOU_PART) & learnable[best]) | (top < IOU_NEGATIVE)
    return kind, box_offsets(windows, faces[best]), keep


def mine_photo(
    detector: MTCNN, image: np.ndarray, faces: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of one photo: (windows (N, 4), kind (N,), offsets (N, 4))."""
    normalized = normalize(image)
    proposed = detector.propose(normalized)
    refined = detector.refine(normalized, proposed) if len(proposed) else np.zeros((0, 5))
    faces = faces.reshape(-1, 4)
    learnable = bx.face_size(faces) >= MIN_FACE
    around = jitter(faces[learnable], rng, JITTER_PER_FACE)
    parts = []
    for windows, negatives in (
        (proposed[:, :4], NEGATIVES_PER_PHOTO),
        (refined[:, :4], HARD_NEGATIVES_PER_PHOTO),
        (around, 0),
    ):
        if not len(windows):
            continue
        kind, offsets, keep = label_windows(windows, faces, learnable)
        idx = np.flatnonzero(keep)
        neg = idx[kind[idx] == NEGATIVE]
        neg = rng.choice(neg, min(len(neg), negatives), replace=False)
        idx = np.concatenate([idx[kind[idx] != NEGATIVE], neg]).astype(int)
        parts.append((windows[idx], kind[idx], offsets[idx]))
    if not parts:
        return np.zeros((0, 4)), np.zeros(0, int), np.zeros((0, 4))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def with_synthetic_masks(
    detector: MTCNN,
    image: np.ndarray,
    faces: np.ndarray,
    labels: list[str],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The photo with masks drawn on its unmasked learnable faces, and jitter windows
    around those faces: (image, windows, kind, offsets), or None if it has no such face."""
    sizes = bx.face_size(faces)
    chosen = np.array([lab in UNMASKED_LABELS for lab in labels], bool) & (sizes >= MIN_FACE)
    if not chosen.any():
        return None
    masked = image
    for box, points in zip(faces[chosen], detector.landmarks(image, faces[chosen]), strict=True):
        masked = draw_mask(masked, points, box, rng)
    windows = jitter(faces[chosen], rng, JITTER_PER_FACE)
    kind, offsets, keep = label_windows(windows, faces, sizes >= MIN_FACE)
    keep &= kind != NEGATIVE
    return masked, windows[keep], kind[keep], offsets[keep]


def patches(image: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R-Net and O-Net inputs for windows, as uint8, sampled as the runtime samples them."""
    pixels = image.astype(np.float32)
    return tuple(
        np.clip(np.rint(crop_and_resize(pixels, windows, size)), 0, 255).astype(np.uint8)
        for size in (RNET_SIZE, ONET_SIZE)
    )


def crop_samples(folder: Path, limit: int, rng: np.random.Generator) -> list[tuple[Path, str]]:
    """Up to `limit` face crops (photos that are already a face), with their split."""
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    picked = rng.choice(len(photos), min(limit, len(photos)), replace=False)
    return [(photos[i], split_of(photos[i])) for i in sorted(picked)]


def miner(name: str, models_dir: Path | None = None) -> MTCNN:
    """The detector whose candidates are mined: its own P-Net threshold, R-Net at 0.3."""
    own = MTCNN(models_dir, detector=name)
    return MTCNN(models_dir, detector=name, thresholds=(own.thresholds[0], 0.3, 0.8))


def make_samples(
    scene_folders: list[Path],
    crop_folders: list[Path],
    crops_per_folder: int = 1500,
    seed: int = 0,
    limit: int | None = None,
    mined_with: tuple[str, ...] = ("mtcnn",),
    models_dir: Path | None = None,
) -> tuple[Samples, dict]:
    """Mine the scenes photos (VOC boxes; the first `limit` by name per folder) with each
    detector of `mined_with` and add face crops; returns samples and counts."""
    from train.voc import read_folder

    rng = np.random.default_rng(seed)
    miners = [miner(name, models_dir) for name in mined_with]
    reference = MTCNN(detector="mtcnn")
    out = {k: [] for k in Samples.__dataclass_fields__}

    def add(image: np.ndarray, windows: np.ndarray, kind, offsets, split: str) -> None:
        small, large = patches(image, windows)
        for key, value in zip(
            ("rnet", "onet", "kind", "offsets", "split"),
            (small, large, np.asarray(kind), np.asarray(offsets), np.full(len(kind), split)),
            strict=True,
        ):
            out[key].append(value)

    photos = {"train": 0, "val": 0, "test": 0}
    conventions = []
    annotations = [a for folder in scene_folders for a in read_folder(folder)[:limit]]
    for ann in tqdm(annotations, desc="mine scenes", unit="photo"):
        try:
            image = load_image(ann.image)
        except ImageLoadError:
            continue
        split = split_of(ann.image)
        photos[split] += 1
        faces = ann.boxes.astype(float)
        for detector in miners:
            add(image, *mine_photo(detector, image, faces, rng), split)
        if split == "train":
            synthetic = with_synthetic_masks(reference, image, faces, ann.labels, rng)
            if synthetic is not None:
                add(*synthetic, split)
            conventions.append(box_convention(faces, reference.detect(image)))
    crops = [c for folder in crop_folders for c in crop_samples(folder, crops_per_folder, rng)]
    for path, split in tqdm(crops, desc="face crops", unit="crop"):
        try:
            image = load_image(path)
        except ImageLoadError:
            continue
        h, w = image.shape[:2]
        side = min(h, w)
        window = np.array([[(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2]])
        add(image, window, [CROP], np.zeros((1, 4)), split)
    samples = Samples(
        **{k: np.concatenate(v) for k, v in out.items() if k != "offsets"},
        offsets=np.concatenate(out["offsets"]).astype(np.float32),
    )
    counts = {
        "mined_with": list(mined_with),
        "photos": photos,
        "windows": {
            split: {
                name: int(((samples.split == split) & (samples.kind == k)).sum())
                for name, k in (
                    ("negative", NEGATIVE),
                    ("positive", POSITIVE),
                    ("part", PART),
                    ("crop", CROP),
                )
            }
            for split in ("train", "val", "test")
        },
        "reference_box": median_convention(conventions),
    }
    return samples, counts


def box_convention(faces: np.ndarray, found) -> np.ndarray:
    """(M, 4) per annotated face that the reference MTCNN matched at IoU >= 0.5: the centre
    shift of its box (fractions of the annotated width and height) and its size ratio."""
    from train.voc import match

    matched = match(faces, found.boxes, found.scores, 0.5)
    hit = np.flatnonzero(matched >= 0)
    g, r = faces[hit], found.boxes[matched[hit]].astype(float)
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    return np.stack(
        [
            ((r[:, 0] + r[:, 2]) - (g[:, 0] + g[:, 2])) / 2 / gw,
            ((r[:, 1] + r[:, 3]) - (g[:, 1] + g[:, 3])) / 2 / gh,
            (r[:, 2] - r[:, 0]) / gw,
            (r[:, 3] - r[:, 1]) / gh,
        ],
        axis=1,
    )


def median_convention(per_photo: list[np.ndarray]) -> dict:
    """How the reference MTCNN draws annotated faces: median shift and scale over training
    faces. The runtime turns the fine-tuned detector's boxes back with it before cropping
    for the classifiers, which were trained on crops around reference boxes."""
    rows = np.concatenate(per_photo) if per_photo else np.zeros((0, 4))
    median = np.median(rows, axis=0) if len(rows) else np.array([0.0, 0.0, 1.0, 1.0])
    return {
        "shift": [round(float(v), 4) for v in median[:2]],
        "scale": [round(float(v), 4) for v in median[2:]],
        "faces": len(rows),
    }


def prepare_detector_data(
    scene_folders: list[Path],
    crop_folders: list[Path],
    out: Path,
    seed: int = 0,
    limit: int | None = None,
    crops_per_folder: int = 1500,
    mined_with: tuple[str, ...] = ("mtcnn",),
    models_dir: Path | None = None,
) -> Path:
    """Write out/samples.npz and out/samples.json once; reuse them when present."""
    path = out / "samples.npz"
    if path.exists():
        return path
    out.mkdir(parents=True, exist_ok=True)
    samples, counts = make_samples(
        scene_folders, crop_folders, crops_per_folder, seed, limit, mined_with, models_dir
    )
    samples.save(path)
    (out / "samples.json").write_text(json.dumps(counts, indent=2))
    return path
