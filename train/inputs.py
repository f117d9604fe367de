"""The inputs the training commands hand to each other, read with one-line errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


class InputError(ValueError):
    """A path that is not what a command expects; the message names it and says why."""


def existing_path(text: str) -> Path:
    """argparse type for an input: a path that is missing fails as a usage error (exit 2)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


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
    return read_json(Path(data) / "prepare.json", "a folder written by `python -m train prepare`")


def read_run_labels(run: Path) -> dict:
    """labels.json of a run folder written by `python -m train fit` or `soup`."""
    return read_json(Path(run) / "labels.json", "a run folder of `python -m train fit`")
