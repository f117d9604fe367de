"""Expand what a user typed (files, folders, globs, videos, camera indices) into inputs."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.image_io import IMAGE_SUFFIXES

GLOB_CHARS = set("*?[")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class SourceError(ValueError):
    """A source that yields nothing (an empty folder, a video that does not open)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One video or camera frame: RGB pixels, a name such as "clip.mp4#12", the stream it
    comes from, its index there and its time in seconds (video clock, or since the camera
    opened), and the stream's frames per second (None where unknown)."""

    name: str
    image: np.ndarray
    source: str = ""
    index: int = 0
    seconds: float = 0.0
    fps: float | None = None


def expand_source(source: str) -> list[Path]:
    """Image (or video) paths for one source, in sorted order.

    A folder gives its image and video files (by suffix, not recursive); a pattern gives
    its matches; anything else is returned as given, so that a missing or broken file is
    reported by the loader with its own reason.
    """
    path = Path(source)
    wanted = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in wanted and p.is_file())
    if not path.exists() and GLOB_CHARS & set(source):
        return sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
    return [path]


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def is_camera(source: str) -> bool:
    return source.isdigit() and not Path(source).exists()


def frames(source: str | Path, max_frames: int | None = None, stride: int = 1) -> Iterator[Frame]:
    """Frames of a video file or a camera index (every `stride`-th), as RGB arrays."""
    import time

    import cv2

    camera = isinstance(source, str) and is_camera(source)
    capture = cv2.VideoCapture(int(source) if camera else str(source))
    if not capture.isOpened():
        raise SourceError(f"{source}: cannot open {'camera' if camera else 'video'}")
    name = f"camera{source}" if camera else str(source)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else None
    opened = time.monotonic()
    index = emitted = 0
    try:
        while max_frames is None or emitted < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % stride == 0:
                clock = index / fps if fps else 0.0  # a video's own clock
                seconds = time.monotonic() - opened if camera else clock
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(f"{name}#{index}", rgb, name, index, seconds, fps)
                emitted += 1
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise SourceError(f"{source}: no frames could be read")


def check_opens(source: str | Path) -> None:
    """SourceError, in one line, unless the video file or camera gives a first frame."""
    stream = frames(source, max_frames=1)
    try:
        next(stream)  # frames raises SourceError itself where there is none
    finally:
        stream.close()


def frame_count(path: Path) -> int | None:
    """Frames in a video file as its header says, for progress bars (None if unknown)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count if count > 0 else None
