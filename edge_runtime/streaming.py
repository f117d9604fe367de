"""Any source to a stream of Results: photos, folders, globs, videos and cameras, tracked
where they are streams, annotated copies saved, and a summary at the end of each source.

`Pipeline.stream` is the entry point; the CLI and the service's camera are layers over it.
"""

from __future__ import annotations

import glob
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from edge_runtime.image_io import ImageLoadError, load_image
from edge_runtime.options import check_number
from edge_runtime.sources import SourceError, expand_source, frames, is_camera, is_video
from edge_runtime.types import Result
from edge_runtime.video import counted, mask_and_gender_counts, summary_lines

if TYPE_CHECKING:
    from edge_runtime.pipeline import Pipeline
    from edge_runtime.video import Stream


class SaveError(OSError):
    """`save` names a place annotated copies cannot be written (a file, no permission)."""


@dataclass(slots=True)
class Summary:
    """What one source held: for a video or camera its tracked people (`Tracker.summary`),
    for a folder or glob its photos' faces; `to_dict` is the CLI's `{"summary": ...}`."""

    source: str
    data: dict

    def to_dict(self) -> dict:
        return {"summary": self.data}

    def to_json(self, **kwargs) -> str:
        """`to_dict` as a JSON string, as `Result.to_json`."""
        return json.dumps(self.to_dict(), **kwargs)

    def lines(self) -> list[str]:
        """Readable: one line for the source (and, for a stream, one per person)."""
        if "tracks" in self.data:
            return summary_lines(self.data)
        return [photo_summary_line(self.data)]


@dataclass(slots=True)
class PhotoTally:
    """Counts over a folder's photos, for its summary."""

    source: str
    images: int = 0
    failed: int = 0
    videos_failed: int = 0  # videos of the folder that did not open (read ones have their own)
    faces: int = 0
    masks: Counter = field(default_factory=Counter)
    genders: Counter = field(default_factory=Counter)

    def add(self, result: Result) -> None:
        self.images += 1
        if result.error is not None:
            self.failed += 1
            return
        self.faces += len(result.faces)
        for face in result.faces:
            if face.mask is not None:
                self.masks[face.mask] += 1
            if face.gender is not None:
                self.genders[face.gender] += 1

    def summary(self) -> Summary | None:
        """The folder's Summary so far; None before its first photo or failed video."""
        if not self.images and not self.videos_failed:
            return None
        data = {
            "source": self.source,
            "images": self.images,
            "failed": self.failed,
            "videos_failed": self.videos_failed,
            "faces": self.faces,
            "with_mask": self.masks[True],
            "without_mask": self.masks[False],
            "by_gender": dict(sorted(self.genders.items())),
        }
        return Summary(self.source, data)


def photo_summary_line(summary: dict) -> str:
    """`folder: 12 images (1 failed), 30 faces (20 with a mask, 10 without; Female 12, ...)`."""
    failed = f" ({summary['failed']} failed)" if summary["failed"] else ""
    line = f"{summary['source']}: {counted(summary['images'], 'image')}{failed}, "
    line += counted(summary["faces"], "face")
    if summary["with_mask"] or summary["without_mask"]:
        line += f" ({mask_and_gender_counts(summary)})"
    if summary.get("videos_failed"):
        line += f"; {counted(summary['videos_failed'], 'video')} could not be read"
    return line


def prepare_save_dir(folder: str | Path) -> Path:
    """Create `folder` for annotated copies, or raise SaveError in one line saying why."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SaveError(f"{folder}: exists and is not a folder (--save takes a folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SaveError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SaveError(f"{folder}: cannot write there (permission denied)")
    return folder


class UniqueNames:
    """Output file names that never collide within a run: a second `photo.jpg` from
    another folder is saved as `photo_2.jpg`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def __call__(self, stem: str, suffix: str, source: Path | None = None) -> Path:
        """A new name for `stem` + `suffix`; never `source` itself (saving into the folder
        being read must not overwrite the photo or video)."""
        name, n = f"{stem}{suffix}", 1
        while name in self.used or _same_file(self.folder / name, source):
            n += 1
            name = f"{stem}_{n}{suffix}"
        self.used.add(name)
        return self.folder / name


def _same_file(a: Path, b: Path | None) -> bool:
    return b is not None and a.exists() and Path(b).exists() and a.samefile(b)


class StreamRun:
    """Iterate for a Result per photo or frame (a failed input is a Result with `error`),
    and a Summary after each video, camera, folder or glob (videos and cameras tracked
    unless `track=False`). `save`: a folder for annotated copies (photos as JPEG, streams
    as MP4, names made unique; `blur` blurs the faces in them). `realtime`: play video
    files at their own frame rate. `live_summary()`: the open stream's counts so far, from
    another thread."""

    def __init__(
        self,
        pipeline: Pipeline,
        sources: Iterable[str | Path | np.ndarray | Image.Image],
        *,
        track: bool = True,
        smooth: bool = True,
        save: str | Path | None = None,
        max_frames: int | None = None,
        vid_stride: int = 1,
        min_track: int = 3,
        realtime: bool = False,
        blur: bool = False,
    ) -> None:
        check_number(vid_stride, "vid_stride", 1, math.inf, whole=True)
        check_number(min_track, "min_track", 1, math.inf, whole=True)
        if max_frames is not None:
            check_number(max_frames, "max_frames", 1, math.inf, whole=True)
        self.pipeline = pipeline
        self.sources = sources
        self.track = track
        self.smooth = smooth
        self.names = UniqueNames(prepare_save_dir(save)) if save is not None else None
        self.max_frames = max_frames
        self.vid_stride = vid_stride
        self.min_track = min_track
        self.realtime = realtime
        self.blur = blur
        self.stream: Stream | None = None
        self.closed: Summary | None = None  # the last stream's, once it ended
        self.source: str | None = None  # the input being read (None: an array or image)
        self._unreported = False
        self._tally: PhotoTally | None = None  # the open folder's or glob's
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Result | Summary]:
        self._tally = None
        for source in self.sources:
            if isinstance(source, np.ndarray | Image.Image):
                self.source = None
                yield self._photo(source, None)
                continue
            self.source = str(source)
            if is_camera(self.source):
                yield from self._video(self.source)
            else:
                yield from self._paths(self.source)

    def live_summary(self) -> dict | None:
        """The open video's or camera's summary so far, else the last one's; None before."""
        with self._lock:
            if self.stream is not None:
                return self.stream.summary()
            return None if self.closed is None else self.closed.data

    def finish(self) -> Summary | None:
        """Close the open video or camera (its MP4 finished) and return a Summary that a
        stopped run (Ctrl-C, `break`) did not yield: first the open video's or camera's
        (with tracking), then, on the next call, the open folder's so far; then None."""
        summary = self._end_stream()
        if summary is None and self._tally is not None:
            summary, self._tally = self._tally.summary(), None
        return summary

    def _end_stream(self) -> Summary | None:
        """Close the open video or camera; its Summary if none was yielded yet."""
        self._close(self.stream)
        unreported, self._unreported = self._unreported, False
        return self.closed if unreported else None

    def _close(self, stream: Stream | None) -> None:
        """Close `stream` if it is still the open one (not a later stream's)."""
        with self._lock:
            if stream is None or stream is not self.stream:
                return
            self.stream = None
            data = stream.close()
            if self.track:
                self.closed, self._unreported = Summary(stream.source, data), True

    def _paths(self, source: str) -> Iterator[Result | Summary]:
        paths = expand_source(source)
        if not paths:
            yield Result.failed(source, f"{source}: no images found")
            return
        several = Path(source).is_dir() or glob.has_magic(source) or len(paths) > 1
        tally = self._tally = PhotoTally(source) if several else None
        for path in paths:
            if is_video(path):
                yield from self._video(path)
                continue
            result = self._photo(None, path)
            if tally is not None:
                tally.add(result)
            yield result
        self._tally = None
        if tally is not None and (summary := tally.summary()) is not None:
            yield summary

    def _photo(self, image: np.ndarray | Image.Image | None, path: Path | None) -> Result:
        """One photo's Result; what cannot be read, run or saved is a failed Result."""
        name = None if path is None else str(path)
        try:
            if image is None:
                image = load_image(path, self.pipeline.options.max_pixels)
            result = self.pipeline.run(image, path=name)
        except (ImageLoadError, ValueError) as exc:
            return Result.failed(name, str(exc))
        if self.names is not None:
            target = self.names(Path(name or "image").stem, ".jpg", path)
            try:
                result.save(target, self.blur)
            except OSError as exc:
                return Result.failed(name, f"{target}: cannot save ({exc.strerror or exc})")
        return result

    def _video(self, source: str | Path) -> Iterator[Result | Summary]:
        from edge_runtime.tracking import Tracker
        from edge_runtime.video import Stream

        camera = isinstance(source, str) and is_camera(source)
        save_to = None
        if self.names is not None:
            stem = f"camera{source}" if camera else Path(source).stem
            save_to = self.names(stem, ".mp4", None if camera else Path(source))
        tracker = None
        if self.track:
            tracker = Tracker.for_cascade(self.pipeline.cascade, smooth=self.smooth)
        started = time.monotonic()
        stream = None
        try:
            for frame in frames(source, self.max_frames, self.vid_stride):
                if stream is None:
                    stream = Stream(
                        frame.source,
                        tracker,
                        save_to,
                        frame.fps,
                        self.min_track,
                        self.blur,
                        self.vid_stride,
                    )
                    with self._lock:
                        self.stream = stream
                result = self.pipeline.run(frame.image, path=frame.name)
                try:
                    with self._lock:
                        stream.add(result, frame)
                except OSError as exc:  # the MP4 cannot be written: go on without it
                    stream.save_to = None
                    yield Result.failed(str(save_to), str(exc))
                yield result
                if self.realtime and not camera and frame.fps:
                    time.sleep(max(0.0, frame.seconds - (time.monotonic() - started)))
        except SourceError as exc:
            if self._tally is not None:
                self._tally.videos_failed += 1
            yield Result.failed(str(source), str(exc))
        except BaseException:  # Ctrl-C, `break`: the MP4 is finished, the summary kept
            self._close(stream)
            raise
        self._close(stream)
        summary = self._end_stream()
        if summary is not None:
            yield summary
