"""Shared fixtures: paths to the team's real data, skipped with a reason where it is absent."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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

    return MTCNN()


def kill_after_first_epoch(command: list[str], history: Path) -> list[int]:
    """Start a training command, SIGKILL it once `history` (a Keras CSVLogger file) has one
    epoch, and return the epochs it logged: the first half of a resume-after-kill test."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "training ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return logged_epochs(history)


def logged_epochs(history: Path) -> list[int]:
    """The epoch column of a Keras CSVLogger file."""
    with open(history, newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]
