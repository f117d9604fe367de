"""`python -m edge_runtime SOURCE...`: every face in photos, with mask and gender.

SOURCE is an image, a folder, a glob pattern, a video file or a camera index. In a video or
camera stream faces are tracked: each gets a `track_id` and its track's smoothed labels, and
the stream ends (or Ctrl-C stops it) with a summary of the people seen.
`python -m edge_runtime serve` starts the HTTP service instead (`edge_runtime.serve`), and
`python -m edge_runtime batch` runs a job over many inputs to Parquet (`edge_runtime.batch`).
Exit codes: 0 every input was processed (finding no face is an answer, not an error),
1 at least one input failed (each failure is one line on stderr; the others go on) or the
output could not be written, 2 usage error (bad option, unavailable provider, a model that
fails its manifest check, a --save or --csv place that cannot be written), 130 stopped by
Ctrl-C while reading anything but a camera (stopping a camera with Ctrl-C is 0).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from edge_runtime import __version__
from edge_runtime.bench import DEFAULT_RUNS
from edge_runtime.image_io import ImageLoadError
from edge_runtime.manifest import ModelIntegrityError
from edge_runtime.options import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_pipeline_arguments,
    parse_checked,
    pipeline_kwargs,
    positive_int,
    program_name,
)
from edge_runtime.sessions import ProviderUnavailableError, resolve_providers
from edge_runtime.sources import (
    expand_source,
    frame_count,
    is_camera,
    is_video,
)
from edge_runtime.streaming import SaveError, StreamRun, Summary
from edge_runtime.types import Result

if TYPE_CHECKING:
    from edge_runtime.pipeline import Pipeline

# OpenCV's own lines (FFmpeg's "moov atom not found", V4L2 warnings) would come before our
# one-line error for a video or camera that does not open; a user's setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

# Words that start another program instead of the photo and video CLI.
SUBCOMMANDS = ("serve", "batch")
# The four seed photos `--benchmark` times: package data in a wheel, tests/data in a checkout.
_PACKAGE = Path(__file__).resolve().parent
SEED_PHOTOS = next(
    (d for d in (_PACKAGE / "samples", _PACKAGE.parent / "tests" / "data") if d.is_dir()),
    _PACKAGE / "samples",
)


def build_parser() -> argparse.ArgumentParser:
    """The command line; names follow ultralytics' predict where the meaning matches."""
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Faces, masks and gender in photos and videos, on ONNX Runtime.",
        epilog="Also: `python -m edge_runtime serve --help` (the HTTP service) and "
        "`python -m edge_runtime batch --help` (many inputs to Parquet, optionally on Ray). "
        "Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage error, "
        "130 stopped by Ctrl-C (a camera: 0).",
    )
    parser.add_argument(
        "source", nargs="*", help="image, folder, glob pattern (quoted), video file or camera index"
    )
    parser.add_argument("--version", action="version", version=f"edge-runtime {__version__}")
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines: an object per image or frame, an error record per failed input, "
        "a summary after each folder, video or camera",
    )
    parser.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="write annotated copies here (photos as JPEG, videos as MP4; names made unique)",
    )
    parser.add_argument(
        "--blur", action="store_true", help="blur the faces in saved copies (labels kept)"
    )
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per face")
    add_pipeline_arguments(parser)
    parser.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="stop a video or camera after this many frames",
    )
    parser.add_argument(
        "--vid-stride", type=positive_int, default=1, help="use every n-th video frame"
    )
    parser.add_argument(
        "--no-smooth",
        action="store_true",
        help="video: keep each frame's own labels instead of its track's (ids stay)",
    )
    parser.add_argument(
        "--min-track",
        type=positive_int,
        default=3,
        help="video: frames a track needs to count as a person in the summary (3)",
    )
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="time every stage on the given photos (default: the seed photos)",
    )
    parser.add_argument(
        "--runs", type=positive_int, default=None, help=f"passes for --benchmark ({DEFAULT_RUNS})"
    )
    return parser


def text_lines(result: Result) -> list[str]:
    """Human-readable lines: `photo.jpg  face 1  (x, y, w, h)  WithMask 99.1%  Female 96.4%`."""
    if not result.faces:
        return [f"{result.path}  no face found"]
    lines = []
    for i, face in enumerate(result.faces, 1):
        x, y, w, h = (round(v) for v in face.xywh)
        line = f"{result.path}  face {i}  ({x}, {y}, {w}, {h})"
        if face.track_id is not None:
            line += f"  track {face.track_id}"
        if face.mask is None:
            line += f"  confidence {face.confidence:.3f}"
        else:
            line += (
                f"  {face.mask_label} {face.p_mask_label:.1%}  {face.gender} {face.p_gender:.1%}"
            )
        lines.append(line)
    return lines


def expected_count(sources: list[str], args: argparse.Namespace) -> int | None:
    """How many images and frames to expect, for the progress bar (None if unknown)."""
    total = 0
    for source in sources:
        if is_camera(source):
            return args.max_frames
        for path in expand_source(source):
            if is_video(path):
                count = frame_count(path)
                if count is None:
                    return None
                total += -(-count // args.vid_stride)
            else:
                total += 1
    return total


def benchmark(args: argparse.Namespace, pipeline: Pipeline) -> int:
    """Print per-stage latency on the user's device; photos default to the seed photos."""
    from edge_runtime.bench import format_report, run_benchmark

    if pipeline.cascade is None:
        print("error: --benchmark times the whole cascade; drop --faces-only", file=sys.stderr)
        return EXIT_USAGE
    paths = [p for s in args.source for p in expand_source(s) if not is_video(p)]
    if not args.source:
        paths = sorted(SEED_PHOTOS.glob("*_image_*_mask.jpg"))
    if not paths:
        print("error: no photos to time", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run_benchmark(pipeline, paths, args.runs or DEFAULT_RUNS)
    except ImageLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    print(json.dumps(report) if args.json else format_report(report))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. `serve` as the first word starts the service."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(f"edge_runtime.{argv[0]}")
        return module.main(argv[1:])
    parser = build_parser()
    args = parse_checked(parser, argv)
    if not args.source and not args.benchmark:
        parser.error("give at least one SOURCE (or --benchmark)")
    if args.blur and not args.save:
        parser.error("--blur blurs the saved copies: give --save DIR too")
    if args.runs and not args.benchmark:
        parser.error("--runs sets how many passes --benchmark makes: give --benchmark too")
    from edge_runtime.pipeline import Pipeline

    try:
        pipeline = Pipeline(
            **pipeline_kwargs(args, resolve_providers(args.providers, args.fallback))
        )
        if args.benchmark:
            return benchmark(args, pipeline)
        run = pipeline.stream(
            args.source,
            track=True,
            smooth=not args.no_smooth,
            save=args.save,
            max_frames=args.max_frames,
            vid_stride=args.vid_stride,
            min_track=args.min_track,
            blur=args.blur,
        )
        csv_file = FaceCsv(args.csv) if args.csv else None
    except (ProviderUnavailableError, ModelIntegrityError, SaveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        code = report(run, args, csv_file)
    except BrokenPipeError:  # e.g. `| head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except OSError as exc:  # e.g. a full disk under the output or the CSV
        print(f"error: could not write the output: {exc}", file=sys.stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_SOME_FAILED
    finally:
        run.finish()  # a video's MP4 left open when the reader left is finished too
        if csv_file is not None:
            csv_file.close()
    return code


def report(run: StreamRun, args: argparse.Namespace, csv_file: FaceCsv | None) -> int:
    """Print every Result and Summary of the run (JSON Lines or text), a failure also as one
    line on stderr, faces to the CSV; returns the exit code. Ctrl-C ends the run with the
    summaries so far of the open video, camera and folder; it is how a camera is stopped
    (EXIT_OK), anywhere else it leaves inputs unread (EXIT_INTERRUPTED)."""
    failed = 0
    with progress_bar(expected_count(args.source, args)) as bar:

        def show(item: Result | Summary) -> None:
            if args.json:
                bar.write(json.dumps(item.to_dict()), file=sys.stdout)
            elif isinstance(item, Summary):
                bar.write("\n".join(item.lines()), file=sys.stdout)
            elif item.error is None:
                bar.write("\n".join(text_lines(item)), file=sys.stdout)
            sys.stdout.flush()

        try:
            for item in run:
                if isinstance(item, Result):
                    bar.update()
                    if item.error is not None:
                        failed += 1
                        bar.write(f"error: {item.error}", file=sys.stderr)
                    elif csv_file is not None:
                        csv_file.write(item)
                show(item)
        except KeyboardInterrupt:
            while (summary := run.finish()) is not None:
                show(summary)
            if not (run.source and is_camera(run.source)):
                return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed else EXIT_OK


class NoBar:
    """What `report` uses of a tqdm bar, where one input needs none (and no tqdm import,
    a noticeable share of a one-photo run's start-up)."""

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self) -> None:
        """Nothing to count."""

    @staticmethod
    def write(text: str, file=None) -> None:
        print(text, file=file or sys.stdout)


def progress_bar(total: int | None):
    """A tqdm bar on stderr for `total` inputs (unknown: None; none without a terminal), or
    NoBar for one input or none."""
    if total is not None and total <= 1:
        return NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", disable=None, file=sys.stderr, leave=False)


class FaceCsv:
    """`--csv FILE`: one row per face (path, face number, box, labels, probabilities)."""

    COLUMNS = (
        "path",
        "face",
        "x",
        "y",
        "w",
        "h",
        "confidence",
        "mask",
        "p_mask",
        "gender",
        "p_gender",
        "track_id",
    )

    def __init__(self, path: Path) -> None:
        """Open `path` for writing, or raise SaveError in one line."""
        import csv

        self.path = path
        try:
            self._file = open(path, "w", newline="")  # noqa: SIM115
        except OSError as exc:
            raise SaveError(f"{path}: cannot write the CSV ({exc.strerror})") from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.COLUMNS)

    def write(self, result: Result) -> None:
        for number, face in enumerate(result.faces, 1):
            row = face.to_dict()
            x, y, w, h = row["box"]
            self._writer.writerow(
                (
                    result.path,
                    number,
                    x,
                    y,
                    w,
                    h,
                    row["confidence"],
                    row["mask"],
                    row["p_mask"],
                    row["gender"],
                    row["p_gender"],
                    face.track_id,
                )
            )

    def close(self) -> None:
        self._file.close()


def cli() -> NoReturn:
    """`python -m edge_runtime` and the `edge-runtime` command: `main`, then the process ends
    without the interpreter's teardown of the sessions, ONNX Runtime and OpenCV, which
    writes nothing and is a noticeable part of a one-photo run (`docs/measurements.md`).
    The subcommands (their own servers and Ray hooks), a profiler or a tracer get the usual
    exit; a program that runs this module in its own process should call `main` instead."""
    try:
        code = main()
    except KeyboardInterrupt:  # before the run's own handling: while starting up
        code = EXIT_INTERRUPTED
    if (sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS) or sys.gettrace() or sys.getprofile():
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that left; a closed stream
            pass
        except OSError as exc:  # a full disk: the output is lost, so say so
            code = code or EXIT_SOME_FAILED
            with contextlib.suppress(OSError):
                print(f"error: could not write the output: {exc}", file=sys.__stderr__)
    os._exit(code)


if __name__ == "__main__":
    cli()
