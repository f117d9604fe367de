"""A run folder's trained model: `model.keras`, or float16 weight parts that carry it back.

A GPU machine returns at most 16 MiB per file, so `fit --half-parts` also writes the weights
as float16 in parts of at most PART_BYTES (about 41 MB in 3 parts for EfficientNetV2S);
`load_run_model` rebuilds `model.keras` from them where it is missing, so every command
that takes a run (calibrate, failures, export, benchmarks) takes such a folder as it is.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from train.inputs import InputError, check_same_crops, read_run_labels

PART_BYTES = 15 * 1024 * 1024
HALF_WEIGHTS = "weights16.npz"


def save_half_parts(model, run: Path) -> list[Path]:
    """Write the model's weights (float16, with their paths) as `weights16.npz.partK` files."""
    run = Path(run)
    arrays = {f"w{i:04d}": np.asarray(w).astype(np.float16) for i, w in enumerate(model.weights)}
    arrays["paths"] = np.array([w.path for w in model.weights])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    parts = []
    for k in range(math.ceil(len(blob) / PART_BYTES)):
        part = run / f"{HALF_WEIGHTS}.part{k}"
        part.write_bytes(blob[k * PART_BYTES : (k + 1) * PART_BYTES])
        parts.append(part)
    return parts


def load_half_parts(model, run: Path) -> None:
    """Set `model`'s weights from `save_half_parts` output; refuses another structure."""
    parts = sorted(Path(run).glob(HALF_WEIGHTS + ".part*"), key=lambda p: int(p.suffix[5:]))
    if not parts:
        raise InputError(f"{run}: no {HALF_WEIGHTS}.part* files")
    with np.load(io.BytesIO(b"".join(p.read_bytes() for p in parts))) as z:
        paths = [str(p) for p in z["paths"]]
        arrays = [z[f"w{i:04d}"] for i in range(len(paths))]
    if [w.path for w in model.weights] != paths:
        raise InputError(f"{run}: weights were saved from a model of another structure")
    model.set_weights([a.astype(np.float32) for a in arrays])


def check_run_model(path: Path) -> None:
    """Refuse a run folder (or `model.keras` path) that holds neither the model nor its
    float16 parts, before TensorFlow loads."""
    path = Path(path)
    run, keras_path = (path, path / "model.keras") if path.is_dir() else (path.parent, path)
    if not keras_path.exists() and not any(run.glob(HALF_WEIGHTS + ".part*")):
        raise InputError(f"{run}: no {keras_path.name} (nor {HALF_WEIGHTS}.part* files)")


def checked_run_labels(path: Path, data: Path) -> dict:
    """labels.json of the run holding `path` (a run folder or its `model.keras`), refused
    before TensorFlow loads unless the model is there and `data` was cut like its crops."""
    path = Path(path)
    labels = read_run_labels(path if path.is_dir() else path.parent)
    check_same_crops(labels, data)
    check_run_model(path)
    return labels


def load_run_model(path: Path):
    """The Keras model of a run folder (or of its `model.keras` path).

    Where `model.keras` is missing but float16 parts are there (a run brought back from a
    GPU machine), the model is rebuilt from `labels.json` and the parts and saved first.
    """
    check_run_model(path)
    import keras

    path = Path(path)
    run, keras_path = (path, path / "model.keras") if path.is_dir() else (path.parent, path)
    if not keras_path.exists():
        from train.model import make_model

        labels = read_run_labels(run)
        model = make_model(int(labels["input_size"]))
        load_half_parts(model, run)
        model.save(keras_path)
        print(f"rebuilt {keras_path} from {HALF_WEIGHTS} parts (float16 weights)")
    return keras.saving.load_model(keras_path)
