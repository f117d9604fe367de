"""`python -m edge_runtime SOURCE...`: every face in photos, with mask and gender.

SOURCE is an image, a folder, a glob pattern, a video file or a camera index. In a video or
camera stream faces are tracked: each gets a `track_id` and its track's smoothed labels, and
the stream ends (or Ctrl-C stops it) with a summary of the people seen.
`python -m edge_runtime serve` starts the HTTP service instead (`edge_runtime.serve`), and
`python -m edge_runtime batch` runs a job over many inputs to Parquet (`edge_runtime.batch`).
Exit codes: 0 every input was processed (finding no face is an answer, not an error),
1 at least one input failed (each failure is one line on stderr; the others go on),
2 usage error (bad option, unavailable provider, a model that fails its manifest check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge_runtime.image_io import ImageLoadError, load_image
from edge_runtime.manifest import ModelIntegrityError
from edge_runtime.options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_pipeline_arguments,
    pipeline_kwargs,
)
from edge_runtime.sessions import ProviderUnavailableError, resolve_providers
from edge_runtime.sources import (
    Frame,
    SourceError,
    expand_source,
    frame_count,
    frames,
    is_camera,
    is_video,
)
from edge_runtime.types import Result

# The four seed photos `--benchmark` times: package data in a wheel, tests/data in a checkout.
_PACKAGE = Path(__file__).resolve().parent
SEED_PHOTOS = next(
    (d for d in (_PACKAGE / "samples", _PACKAGE.parent / "tests" / "data") if d.is_dir()),
    _PACKAGE / "samples",
)


def build_parser() -> argparse.ArgumentParser:
    """The command line; names follow ultralytics' predict where the meaning matches."""
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime",
        description="Faces, masks and gender in photos and videos, on ONNX Runtime.",
        epilog="Also: `python -m edge_runtime serve --help` (the HTTP service) and "
        "`python -m edge_runtime batch --help` (many inputs to Parquet, optionally on Ray). "
        "Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage error.",
    )
    parser.add_argument(
        "source", nargs="*", help="image, folder, glob pattern (quoted), video file or camera index"
    )
    parser.add_argument("--json", action="store_true", help="JSON Lines, one object per image")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write annotated copies here")
    add_pipeline_arguments(parser)
    parser.add_argument(
        "--max-frames", type=int, default=None, help="stop a video or camera after this many frames"
    )
    parser.add_argument("--vid-stride", type=int, default=1, help="use every n-th video frame")
    parser.add_argument(
        "--no-smooth",
        action="store_true",
        help="video: keep each frame's own labels instead of its track's (ids stay)",
    )
    parser.add_argument(
        "--min-track",
        type=int,
        default=3,
        help="video: frames a track needs to count as a person in the summary (3)",
    )
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="time every stage on the given photos (default: the seed photos)",
    )
    parser.add_argument("--runs", type=int, default=20, help="passes for --benchmark (20)")
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


class Runner:
    """Loads the models once, then turns each input into a Result and reports it."""

    def __init__(self, args: argparse.Namespace) -> None:
        from edge_runtime.pipeline import Pipeline

        providers = resolve_providers(args.providers, fallback=args.fallback)
        self.args = args
        self.stream = None
        self.pipeline = Pipeline(**pipeline_kwargs(args, providers))

    def run(self, name: str, image: np.ndarray) -> Result:
        """Faces (and, unless --faces-only, mask and gender) in one image."""
        return self.pipeline.run(image, path=name)

    def report(self, result: Result, frame: Frame | None = None) -> None:
        """Track a stream's faces, print the result, save the annotated copy if asked (a
        video's frames go into one MP4, `Stream`)."""
        if frame is not None:
            self.stream_for(frame).add(result, frame)
        if self.args.json:
            print(result.to_json(), flush=True)
        else:
            print("\n".join(text_lines(result)), flush=True)
        if self.args.save and frame is None:
            save_annotated(self.args.save, result)

    def stream_for(self, frame: Frame):
        """The Stream of this frame's source; a new source closes the previous one."""
        from edge_runtime.tracking import Tracker
        from edge_runtime.video import Stream

        if self.stream is not None and self.stream.source != frame.source:
            self.close_stream()
        if self.stream is None:
            tracker = Tracker.for_cascade(self.pipeline.cascade, smooth=not self.args.no_smooth)
            save_to = None
            if self.args.save:
                save_to = self.args.save / f"{Path(frame.source).stem}.mp4"
            self.stream = Stream(frame.source, tracker, save_to, frame.fps, self.args.min_track)
        return self.stream

    def close_stream(self) -> None:
        """Print the open stream's summary (JSON: one `{"summary": ...}` line)."""
        from edge_runtime.video import summary_lines

        if self.stream is None:
            return
        summary, self.stream = self.stream.close(), None
        if self.args.json:
            print(json.dumps({"summary": summary}), flush=True)
        else:
            print("\n".join(summary_lines(summary)), flush=True)


def save_annotated(folder: Path, result: Result) -> Path:
    """Write the annotated copy of a photo as DIR/<name>.jpg."""
    return result.save(folder / f"{Path(str(result.path)).stem}.jpg")


def inputs(
    sources: list[str], args: argparse.Namespace
) -> Iterator[tuple[str, object, Frame | None]]:
    """(name, RGB image or error message, the Frame for video) for every image and frame
    the sources hold."""
    for source in sources:
        if is_camera(source):
            yield from _frames(source, args)
            continue
        paths = expand_source(source)
        if not paths:
            yield source, f"{source}: no images found", None
        for path in paths:
            if is_video(path):
                yield from _frames(path, args)
                continue
            try:
                yield str(path), load_image(path, max_pixels=args.max_pixels), None
            except ImageLoadError as exc:
                yield str(path), str(exc), None


def _frames(source, args) -> Iterator[tuple[str, object, Frame | None]]:
    try:
        for frame in frames(source, args.max_frames, args.vid_stride):
            yield frame.name, frame.image, frame
    except SourceError as exc:
        yield str(source), str(exc), None


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


def benchmark(args: argparse.Namespace, runner: Runner) -> int:
    """Print per-stage latency on the user's device; photos default to the seed photos."""
    from edge_runtime.bench import format_report, run_benchmark

    if runner.pipeline.cascade is None:
        print("error: --benchmark times the whole cascade; drop --faces-only", file=sys.stderr)
        return EXIT_USAGE
    paths = [p for s in args.source for p in expand_source(s) if not is_video(p)]
    if not args.source:
        paths = sorted(SEED_PHOTOS.glob("*_image_*_mask.jpg"))
    if not paths:
        print("error: no photos to time", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run_benchmark(runner.pipeline, paths, args.runs)
    except ImageLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    print(json.dumps(report) if args.json else format_report(report))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. `serve` as the first word starts the service."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from edge_runtime.serve import main as serve

        return serve(argv[1:])
    if argv[:1] == ["batch"]:
        from edge_runtime.batch import main as batch

        return batch(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.source and not args.benchmark:
        parser.error("give at least one SOURCE (or --benchmark)")
    try:
        runner = Runner(args)
    except (ProviderUnavailableError, ModelIntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.benchmark:
        return benchmark(args, runner)

    try:
        failed = _process(args, runner)
    except BrokenPipeError:  # e.g. `| head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C is how a camera stream is stopped
        return EXIT_OK
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _process(args: argparse.Namespace, runner: Runner) -> int:
    """Run every input through the runner; returns how many failed."""
    from tqdm import tqdm

    failed = 0
    total = expected_count(args.source, args)
    with tqdm(
        total=total,
        unit="img",
        disable=None if (total or 2) > 1 else True,
        file=sys.stderr,
        leave=False,
    ) as bar:
        try:
            for name, item, frame in inputs(args.source, args):
                bar.update()
                if isinstance(item, str):
                    bar.write(f"error: {item}", file=sys.stderr)
                    failed += 1
                    continue
                if frame is None:
                    runner.close_stream()
                runner.report(runner.run(name, item), frame)
        finally:  # the end of the input, or Ctrl-C: a stream still open gets its summary
            runner.close_stream()
    return failed


if __name__ == "__main__":
    sys.exit(main())
