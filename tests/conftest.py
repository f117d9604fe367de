"""Shared fixtures: paths to the team's real data, skipped with a reason where it is absent."""

from __future__ import annotations

import os
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
