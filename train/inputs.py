"""The inputs the training commands hand to each other, read with one-line errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_runtime.crop import DEFAULT_MARGIN
from edge_runtime.options import number_between

# At margin 3 the face spans a quarter of the crop; wider crops are scenes, not faces.
MAX_MARGIN = 3.0
RUN_KEYS = ("task", "class_names", "input_size")


class InputError(ValueError):
    """A path that is not what a command expects; the message names it and says why."""


def existing_path(text: str) -> Path:
    """argparse type for an input: a path that is missing fails as a usage error (exit 2)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


crop_margin = number_between(float, 0.0, MAX_MARGIN)
jpeg_quality = number_between(int, 1, 100)


def read_json(path: Path, what: str) -> dict:
    """A JSON file that a command before this one wrote; `what` names that command's output."""
    if not path.is_file():
        raise InputError(f"{path.parent}: not {what} (it has no {path.name})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def read_prepared(data: Path) -> dict:
    """prepare.json of a folder written by `python -m train prepare`."""
    if Path(data).is_file():
        raise InputError(f"{data}: a file; give the folder written by `python -m train prepare`")
    return read_json(Path(data) / "prepare.json", "a folder written by `python -m train prepare`")


def read_run_labels(run: Path) -> dict:
    """labels.json of a run folder written by `python -m train fit` or `soup`."""
    labels = read_json(Path(run) / "labels.json", "a run folder of `python -m train fit`")
    missing = [key for key in RUN_KEYS if key not in labels]
    if missing:
        raise InputError(f"{Path(run) / 'labels.json'}: {', '.join(missing)} missing")
    return labels


def check_same_crops(labels: dict, data: Path) -> None:
    """Refuse prepared data cut otherwise than the model's own training crops (task, size or
    margin): its accuracy there would say nothing about the model."""
    prepared = read_prepared(data)
    model = (labels["task"], labels["input_size"], labels.get("margin", DEFAULT_MARGIN))
    crops = (prepared["task"], prepared["size"], prepared.get("margin", DEFAULT_MARGIN))
    if model != crops:
        raise InputError(
            f"{data}: {crops[0]} crops of {crops[1]} px at margin {crops[2]}; the model was "
            f"trained on {model[0]} crops of {model[1]} px at margin {model[2]} (prepare "
            f"--task {model[0]} --size {model[1]} --margin {model[2]})"
        )
