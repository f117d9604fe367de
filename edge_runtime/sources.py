"""Expand what a user typed (files, folders, globs) into image paths, reporting what yields none."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from edge_runtime.image_io import IMAGE_SUFFIXES

GLOB_CHARS = set("*?[")


def expand_source(source: str) -> Iterator[Path]:
    """Image paths for one source, in sorted order.

    A folder gives its image files (by suffix, not recursive); a pattern gives its
    matches; anything else is returned as given, so that a missing or broken file is
    reported by the loader with its own reason.
    """
    path = Path(source)
    if path.is_dir():
        yield from sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif not path.exists() and GLOB_CHARS & set(source):
        yield from sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
    else:
        yield path
