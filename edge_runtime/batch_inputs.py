"""What a batch job reads: sources expanded into inputs, and each input decoded into images.

An input is an image or a video, named by a local path or a URI that `pyarrow.fs` reads
(s3://, gs://, hdfs://, file://). Sources are what `python -m edge_runtime` takes (files,
folders, globs, videos) plus local list files: `.txt` (a path or URI per line), `.csv` and
`.parquet` (a `path` column, else the first column).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from edge_runtime.image_io import ImageLoadError, load_image, load_image_bytes
from edge_runtime.sources import GLOB_CHARS, SourceError, expand_source, frames, is_video

LIST_SUFFIXES = (".txt", ".csv", ".parquet")


def is_uri(name: str) -> bool:
    """True for scheme://... names (s3://bucket/key, file:///path), which pyarrow.fs opens."""
    return "://" in name


def list_inputs(sources: Iterable[str]) -> list[str]:
    """Every input the sources name, in order, each once. Folders and globs are expanded,
    in list files too; one that holds no image stays, to be reported as such by `decode`."""
    found: list[str] = []
    for source in sources:
        if is_uri(source):
            found.append(source)
        elif Path(source).suffix.lower() in LIST_SUFFIXES and Path(source).is_file():
            found.extend(list_inputs(_read_list(Path(source))))
        else:
            found.extend([str(p) for p in expand_source(source)] or [source])
    return list(dict.fromkeys(found))


def _read_list(path: Path) -> list[str]:
    """The paths or URIs a list file holds (blank lines and `#` comments skipped)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        column = "path" if "path" in table.column_names else table.column_names[0]
        return [str(v) for v in table.column(column).to_pylist() if v]
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return []
        header = [c.strip() for c in rows[0]]
        if "path" in header:
            at = header.index("path")
            return [r[at].strip() for r in rows[1:] if len(r) > at and r[at].strip()]
        return [r[0].strip() for r in rows if r and r[0].strip()]
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_bytes(uri: str) -> bytes:
    """The bytes behind a URI, through pyarrow's file systems; ImageLoadError if unreadable."""
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
        with filesystem.open_input_stream(path) as stream:
            return stream.read()
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageLoadError(f"{uri}: cannot read ({reason})") from None


def decode(
    name: str,
    max_pixels: int,
    vid_stride: int = 1,
    max_frames: int | None = None,
    skip_frames: frozenset[int] = frozenset(),
) -> Iterator[tuple[int | None, np.ndarray | None, str | None]]:
    """(frame index or None for a photo, RGB image or None, error or None) for one input:
    one tuple for a photo or for an input that fails, one per kept frame for a video
    (every `vid_stride`-th, up to `max_frames`, minus `skip_frames`)."""
    if not is_uri(name) and (
        Path(name).is_dir() or (GLOB_CHARS & set(name) and not Path(name).exists())
    ):
        yield None, None, f"{name}: no images found"
        return
    if is_video(Path(name)):
        yield from _video_frames(name, vid_stride, max_frames, skip_frames)
        return
    try:
        if is_uri(name):
            image = load_image_bytes(read_bytes(name), name, max_pixels)
        else:
            image = load_image(name, max_pixels)
    except ImageLoadError as exc:
        yield None, None, str(exc)
        return
    yield None, image, None


def _video_frames(
    name: str, stride: int, max_frames: int | None, skip: frozenset[int]
) -> Iterator[tuple[int | None, np.ndarray | None, str | None]]:
    local, temporary = name, None
    try:
        if is_uri(name):  # OpenCV reads local files: a remote video is copied first
            temporary = tempfile.NamedTemporaryFile(suffix=Path(name).suffix, delete=False)  # noqa: SIM115
            temporary.write(read_bytes(name))
            temporary.close()
            local = temporary.name
        elif not Path(name).is_file():
            yield None, None, f"{name}: no such file"
            return
        for frame in frames(local, max_frames, stride):
            if frame.index not in skip:
                yield frame.index, frame.image, None
    except (SourceError, ImageLoadError) as exc:
        yield None, None, str(exc).replace(local, name)
    finally:
        if temporary is not None:
            Path(temporary.name).unlink(missing_ok=True)
