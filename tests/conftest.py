"""Shared fixtures: paths to the team's real data, skipped with a reason where it is absent."""

from __future__ import annotations

import atexit
import csv
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tests keep ONNX Runtime's saved graphs in a folder of their own, not the user's cache
# (subprocesses and pytest-xdist workers inherit it), removed when the run ends.
if "EDGE_ORT_CACHE" not in os.environ:
    os.environ["EDGE_ORT_CACHE"] = tempfile.mkdtemp(prefix="edge_ort_cache_")
    atexit.register(shutil.rmtree, os.environ["EDGE_ORT_CACHE"], ignore_errors=True)
SHARED = Path(os.environ.get("EDGE_SHARED_DIR", ROOT.parent / "shared"))
DATA = SHARED / "data"
TEST_DATA = ROOT / "tests" / "data"


def needs_shared(path: Path) -> Path:
    """Return path, or skip the test when ../shared (the team's data) is not there."""
    if not path.exists():
        pytest.skip(f"needs {path} (the team's shared data; not part of a user's clone)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return needs_shared(DATA)


@pytest.fixture(scope="session")
def detector():
    from edge_runtime.mtcnn import MTCNN

    return MTCNN(detector="mtcnn")


def ctrl_c_stops_it() -> None:
    """A child's preexec_fn: Ctrl-C (SIGINT) back to its default, which a shell's background
    job starts without (ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(proc: subprocess.Popen, ready: Callable[[], bool], what: str, seconds=600) -> None:
    """Wait while `proc` runs until `ready()` holds or `seconds` pass; fail if it ended
    first, `what` saying in the failure what should have happened."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if ready():
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the command ended before {what}"


def kill_when(command: list[str], ready: Callable[[], bool], what: str) -> None:
    """Start a command in its own process group and SIGKILL the group once `ready()` holds
    (within 10 minutes); `what` says in the failure what should have happened first."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(proc, ready, what)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_after_first_epoch(command: list[str], history: Path) -> list[int]:
    """Start a training command, SIGKILL it once `history` (a Keras CSVLogger file) has one
    epoch, and return the epochs it logged: the first half of a resume-after-kill test."""
    kill_when(
        command,
        lambda: history.exists() and len(history.read_text().splitlines()) >= 2,
        "it logged an epoch",
    )
    return logged_epochs(history)


def logged_epochs(history: Path) -> list[int]:
    """The epoch column of a Keras CSVLogger file."""
    with open(history, newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def two_person_video(path, frames: int = 24) -> None:
    """A real masked woman and an unmasked man side by side, drifting right and down."""
    import cv2

    from benchmarks.video_tracking import write_video
    from edge_runtime.image_io import load_image

    left = load_image(TEST_DATA / "female_image_with_mask.jpg")
    right = load_image(TEST_DATA / "male_image_without_mask.jpg")
    canvas = np.full((400, 720, 3), 235, np.uint8)
    canvas[60:320, 40:300], canvas[60:320, 400:660] = left, right

    def moved(k: int) -> np.ndarray:
        shift = np.float32([[1, 0, 2 * k], [0, 1, k]])
        return cv2.warpAffine(canvas, shift, (720, 400), borderValue=(235, 235, 235))

    write_video((moved(k) for k in range(frames)), path, fps=12.0)
