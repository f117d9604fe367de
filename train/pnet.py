"""`python -m train pnet`: a smaller, faster P-Net taught by the reference P-Net.

P-Net runs on every pyramid level of every photo, so it and the pyramid set most of the
detector's time. The student keeps P-Net's 12 px window and stride 2 but starts with a
4x4 stride-2 convolution instead of convolution + max-pool, with 16/16/16 channels
against 10/16/32 (about 0.7x the network time on a VGA pyramid), and runs on the cheap
"chained" pyramid (`edge_runtime.mtcnn.pyramid`). It learns on 48x48 tiles cut from that
pyramid, with the reference P-Net's face probability and box offsets on the same tile as
soft targets (distillation); where photos have boxes, probability 1 where a window frames
an annotated face (IoU >= 0.65, so masked faces the reference misses count too) and 0
where it is apart from every face. With fewer, better candidates for R-Net, the default
detector takes less than half the time it took with the reference P-Net.

A run folder holds `tiles.npz` (reused by a rerun), `backup/` (resume after a kill),
`history.csv`, `pnet.weights.h5` (best epoch), `metrics.json` and `curves.png`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_runtime import boxes as bx
from edge_runtime.detectors import DEFAULT_MAX_SIDE
from edge_runtime.image_io import IMAGE_SUFFIXES, ImageLoadError, load_image
from edge_runtime.mtcnn import (
    MTCNN,
    PIXEL_MEAN,
    PIXEL_SCALE,
    PNET_CELL,
    PNET_STRIDE,
    normalize,
    pyramid,
    scale_pyramid,
    working_copy,
)
from train.detector import augmented_input, cosine_adam, fit_resumable, start_run
from train.detector_data import IOU_NEGATIVE, IOU_POSITIVE, MIN_FACE, NpzArrays
from train.prepare import split_of

TILE = 48  # pixels of a pyramid level per training tile
CELLS = (TILE - PNET_CELL) // PNET_STRIDE + 1  # P-Net outputs per tile side: 19
WIDTHS = (16, 16, 16)
FACE_TILES = 3  # tiles around each annotated face, at levels where it is 8-17 px
MIN_FACE_SIZE = 20  # the runtime's default pyramid
SCALE_FACTOR = 0.709


@dataclass
class Tiles(NpzArrays):
    """Training tiles (uint8 RGB of a pyramid level) and per-cell targets."""

    x: np.ndarray  # (N, 48, 48, 3) uint8
    target: np.ndarray  # (N, 19, 19, 6) float16: face prob, cell weight, 4 box offsets
    split: np.ndarray  # (N,) "train" / "val"


def student_pnet(widths: tuple[int, int, int] = WIDTHS):
    """The student: (None, None, None, 3) normalised pixels -> [box offsets, face softmax],
    one cell per 12x12 window every 2 pixels, like the reference P-Net."""
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3))
    x = inputs
    for i, (width, kernel, stride) in enumerate(zip(widths, (4, 3, 3), (2, 1, 1), strict=True)):
        x = layers.Conv2D(width, kernel, strides=stride, name=f"conv{i + 1}")(x)
        x = layers.PReLU(shared_axes=[1, 2], name=f"prelu{i + 1}")(x)
    box_reg = layers.Conv2D(4, 1, name="box_reg")(x)
    face_prob = layers.Conv2D(2, 1, activation="softmax", name="face_prob")(x)
    return keras.Model(inputs, [box_reg, face_prob], name="pnet_student")


def cell_windows(x0: int, y0: int, scale: float) -> np.ndarray:
    """(CELLS * CELLS, 4) windows of a tile's cells in photo pixels, row-major; the tile
    starts at (x0, y0) of the level at `scale`."""
    ys, xs = np.mgrid[0:CELLS, 0:CELLS]
    x1 = (x0 + xs.ravel() * PNET_STRIDE) / scale
    y1 = (y0 + ys.ravel() * PNET_STRIDE) / scale
    side = PNET_CELL / scale
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def teacher_maps(teacher, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference P-Net on one normalised tile: face probability and box offsets per cell."""
    planar = np.ascontiguousarray(tile.transpose(2, 0, 1)[None])
    reg, prob = teacher.run(["box_reg", "face_prob"], {"input": planar})
    return prob[0, :CELLS, :CELLS, 1], reg[0, :CELLS, :CELLS]


def best_iou(windows: np.ndarray, faces: np.ndarray, method: str = "union") -> np.ndarray:
    """(19, 19) each cell's window's best IoU with any of the faces (0 without faces);
    method "min": overlap over the smaller box, 1 for a window inside a face."""
    if not len(faces):
        return np.zeros((CELLS, CELLS))
    return bx.pairwise_iou(windows, faces, method).max(axis=1).reshape(CELLS, CELLS)


def tile_targets(
    teacher,
    tile: np.ndarray,
    inside: np.ndarray,
    windows: np.ndarray,
    faces: np.ndarray | None,
) -> np.ndarray:
    """(19, 19, 6) targets of one tile: the teacher's probability, set to 1 on windows that
    frame an annotated face of >= 12 px (IoU >= 0.65, MTCNN's positives) and to 0 on
    windows apart from every annotated face (IoU < 0.3, MTCNN's negatives, and less than
    half of the window on a face: a window inside a tall face box is a part of a face,
    which the teacher judges); faces None: a photo without boxes, the teacher alone.
    Weight 0 outside the level, more near faces."""
    prob, reg = teacher_maps(teacher, tile)
    if faces is not None:
        learnable = faces[bx.face_size(faces) >= MIN_FACE]
        apart = (best_iou(windows, faces) < IOU_NEGATIVE) & (best_iou(windows, faces, "min") < 0.5)
        prob = np.where(apart, 0.0, prob)
        prob = np.where(best_iou(windows, learnable) >= IOU_POSITIVE, 1.0, prob)
    weight = inside * (1.0 + 3.0 * prob)
    return np.concatenate([prob[..., None], weight[..., None], reg], axis=2)


def photo_tiles(
    teacher,
    image: np.ndarray,
    faces: np.ndarray | None,
    rng: np.random.Generator,
    random_tiles: int,
    method: str = "chained",
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Tiles of one photo and their mirror images: FACE_TILES around each face of >= 12 px
    at levels where it is 8-17 px, and `random_tiles` anywhere in the pyramid (levels drawn by
    area, as the runtime's cells are). faces None: a photo without boxes."""
    image, shrink = working_copy(image, DEFAULT_MAX_SIDE)  # as the runtime detects
    faces = None if faces is None else faces * shrink
    height, width = image.shape[:2]
    scales = scale_pyramid(height, width, MIN_FACE_SIZE, SCALE_FACTOR)
    if not len(scales):
        return [], []
    levels = pyramid(normalize(image), scales, method)
    picks = []  # (level index, centre x, centre y in level pixels)
    for face in [] if faces is None else faces[bx.face_size(faces) >= MIN_FACE * shrink]:
        size = bx.face_size(face[None])[0]
        fitting = np.flatnonzero((size * scales >= 8) & (size * scales <= 17))
        for k in rng.choice(fitting, FACE_TILES) if len(fitting) else []:
            cx, cy = (face[0] + face[2]) / 2 * scales[k], (face[1] + face[3]) / 2 * scales[k]
            picks.append((int(k), cx + rng.uniform(-8, 8), cy + rng.uniform(-8, 8)))
    area = scales**2
    for k in rng.choice(len(scales), random_tiles, p=area / area.sum()):
        picks.append(
            (int(k), rng.uniform(0, width * scales[k]), rng.uniform(0, height * scales[k]))
        )
    xs, ts = [], []
    for k, cx, cy in picks:
        lh, lw = levels[k].shape[:2]
        x0 = int(np.clip(cx - TILE / 2, 0, max(lw - TILE, 0))) // 2 * 2
        y0 = int(np.clip(cy - TILE / 2, 0, max(lh - TILE, 0))) // 2 * 2
        tile = np.zeros((TILE, TILE, 3), np.float32)
        part = levels[k][y0 : y0 + TILE, x0 : x0 + TILE]
        tile[: part.shape[0], : part.shape[1]] = part
        rows = (part.shape[0] - PNET_CELL) // PNET_STRIDE + 1
        cols = (part.shape[1] - PNET_CELL) // PNET_STRIDE + 1
        inside = np.zeros((CELLS, CELLS), np.float32)
        inside[: max(rows, 0), : max(cols, 0)] = 1.0
        windows = cell_windows(x0, y0, scales[k])
        ts.append(tile_targets(teacher, tile, inside, windows, faces))
        xs.append(tile)
        # The mirror image: the same cell grid, the faces mirrored about the tile's centre.
        mirrored = None
        if faces is not None:
            mirrored = faces.copy()
            mirrored[:, [0, 2]] = (2 * x0 + TILE) / scales[k] - faces[:, [2, 0]]
        xs.append(tile[:, ::-1].copy())
        ts.append(tile_targets(teacher, xs[-1], inside[:, ::-1], windows, mirrored))
    to_uint8 = [np.clip(np.rint(t / PIXEL_SCALE + PIXEL_MEAN), 0, 255).astype(np.uint8) for t in xs]
    return to_uint8, ts


def make_tiles(
    scene_folders: list[Path],
    unlabelled_folders: list[Path],
    seed: int = 0,
    random_tiles: int = 64,
    limit: int | None = None,
    method: str = "chained",
) -> tuple[Tiles, dict]:
    """Tiles from the train and val photos of VOC scene folders (boxes give positives and
    negatives) and of folders of photos without boxes (the teacher alone), on the `method`
    pyramid; test photos are never read."""
    from train.voc import read_folder

    rng = np.random.default_rng(seed)
    teacher = MTCNN(detector="mtcnn").pnet
    jobs = [
        (a.image, a.boxes.astype(float).reshape(-1, 4))
        for folder in scene_folders
        for a in read_folder(folder)[:limit]
    ]
    for folder in unlabelled_folders:
        photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        jobs += [(p, None) for p in photos[:limit]]
    xs, ts, splits = [], [], []
    counts = {"train": 0, "val": 0}
    for path, faces in tqdm(jobs, desc="pnet tiles", unit="photo"):
        split = split_of(path)
        if split == "test":
            continue
        try:
            image = load_image(path)
        except ImageLoadError:
            continue
        x, t = photo_tiles(teacher, image, faces, rng, random_tiles, method)
        xs += x
        ts += t
        splits += [split] * len(x)
        counts[split] += 1
    tiles = Tiles(np.stack(xs), np.stack(ts).astype(np.float16), np.array(splits))
    tile_counts = {s: int((tiles.split == s).sum()) for s in counts}
    return tiles, {"photos": counts, "tiles": tile_counts, "pyramid": method}


@dataclass
class PnetFitConfig:
    """What a student P-Net run depends on; saved as config.json in its run folder."""

    tiles: Path
    out: Path
    epochs: int = 40
    batch_size: int = 128
    lr: float = 3e-3
    patience: int = 5
    seed: int = 0
    widths: tuple[int, int, int] = WIDTHS


def distill_loss(y_true, y_pred):
    """Weighted cross-entropy to the target face probability + box offsets where a face is.

    y_pred: the student's offsets and face softmax side by side (..., 4 + 2)."""
    from keras import ops

    target, weight, offsets = y_true[..., 0], y_true[..., 1], y_true[..., 2:6]
    p = ops.clip(y_pred[..., 5], 1e-6, 1 - 1e-6)
    ce = -(target * ops.log(p) + (1 - target) * ops.log(1 - p)) * weight
    box_w = weight * target
    box = ops.sum(ops.square(y_pred[..., 0:4] - offsets), axis=-1) * box_w
    return ops.sum(ce) / ops.maximum(ops.sum(weight), 1.0) + 0.5 * ops.sum(box) / ops.maximum(
        ops.sum(box_w), 1.0
    )


def training_model(network):
    """uint8 tiles -> the student's outputs concatenated, through `augmented_input`."""
    import keras

    inputs, x = augmented_input(TILE)
    box_reg, face_prob = network(x)
    return keras.Model(inputs, keras.ops.concatenate([box_reg, face_prob], axis=-1))


def agreement(pred: np.ndarray, target: np.ndarray, threshold: float = 0.6) -> dict:
    """How the student's cells compare with the targets at the runtime's P-Net threshold:
    recall of target face cells, and student face cells per target face cell."""
    inside = target[..., 1] > 0
    want = (target[..., 0] > threshold) & inside
    got = (pred[..., 5] > threshold) & inside
    labelled = (target[..., 0] == 1.0) & inside
    return {
        "cells": int(inside.sum()),
        "target_face_cells": int(want.sum()),
        "recall": float((got & want).sum() / max(want.sum(), 1)),
        "annotated_recall": float((got & labelled).sum() / max(labelled.sum(), 1)),
        "student_per_target": float(got.sum() / max(want.sum(), 1)),
    }


def fit_pnet(config: PnetFitConfig) -> dict:
    """Train the student; resumes from the run folder's backup; returns its metrics."""
    from train.metrics import plot_history

    out = start_run(config)
    tiles = Tiles.load(Path(config.tiles))
    train, val = tiles.split == "train", tiles.split == "val"
    x_tr, y_tr = tiles.x[train], tiles.target[train].astype(np.float32)
    x_va, y_va = tiles.x[val], tiles.target[val].astype(np.float32)
    network = student_pnet(tuple(config.widths))
    model = training_model(network)
    model.compile(optimizer=cosine_adam(config, len(x_tr)), loss=distill_loss)
    started = time.time()
    fit_resumable(model, (x_tr, y_tr), (x_va, y_va), out, config)
    weights = out / "pnet.weights.h5"
    network.save_weights(weights)
    metrics = {
        "widths": list(config.widths),
        "pyramid": json.loads((Path(config.tiles).parent / "tiles.json").read_text())["pyramid"],
        "train_tiles": len(x_tr),
        "params": int(network.count_params()),
        "seconds": round(time.time() - started, 1),
        "val": agreement(np.asarray(model.predict(x_va, 1024, verbose=0)), y_va),
        "weights": weights.name,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_history(out / "history.csv", out / "curves.png", ("loss",))
    return metrics


def prepare_tiles(
    scene_folders: list[Path],
    unlabelled_folders: list[Path],
    out: Path,
    seed: int = 0,
    limit: int | None = None,
    method: str = "chained",
) -> Path:
    """Write out/tiles.npz and out/tiles.json once; reuse them when present."""
    path = out / "tiles.npz"
    if path.exists():
        return path
    out.mkdir(parents=True, exist_ok=True)
    tiles, counts = make_tiles(scene_folders, unlabelled_folders, seed, limit=limit, method=method)
    tiles.save(path)
    (out / "tiles.json").write_text(json.dumps(counts, indent=2))
    return path
