"""`python -m edge_runtime SOURCE...`: find every face in photos and print it.

Exit codes: 0 every input was processed (finding no face is an answer, not an error),
1 at least one input failed (each failure is one line on stderr; the others go on),
2 usage error (bad option, or a model that fails its manifest check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.image_io import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR, ModelIntegrityError
from edge_runtime.sessions import ProviderUnavailableError, resolve_providers
from edge_runtime.sources import expand_source

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The command line; names follow ultralytics' predict where the meaning matches."""
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime",
        description="Find faces in photos with MTCNN on ONNX Runtime (no TensorFlow).",
        epilog="Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage error.",
    )
    parser.add_argument("source", nargs="+", help="image file, folder of images, or glob pattern")
    parser.add_argument(
        "--json", action="store_true", help="print JSON Lines, one object per image"
    )
    parser.add_argument("--min-face", type=float, default=20, help="smallest face in pixels (20)")
    parser.add_argument(
        "--providers",
        nargs="+",
        default=["cpu"],
        metavar="NAME",
        help="cpu, cuda or tensorrt, in order of preference (cpu)",
    )
    parser.add_argument(
        "--fallback", action="store_true", help="drop unavailable providers instead of failing"
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (all cores)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images ({DEFAULT_MAX_PIXELS:,})",
    )
    return parser


def face_record(detections, index: int) -> dict:
    """One face as a JSON-ready dict: box as x, y, w, h, like the reference package."""
    x1, y1, x2, y2 = (float(v) for v in detections.boxes[index])
    return {
        "box": [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)],
        "confidence": round(float(detections.scores[index]), 4),
        "landmarks": [
            [round(float(x), 1), round(float(y), 1)] for x, y in detections.landmarks[index]
        ],
    }


def print_result(path: Path, detections, as_json: bool) -> None:
    """Print one image's faces as text lines or one JSON line."""
    faces = [face_record(detections, i) for i in range(len(detections))]
    if as_json:
        print(json.dumps({"path": str(path), "faces": faces}), flush=True)
        return
    if not faces:
        print(f"{path}  no face found", flush=True)
    for i, face in enumerate(faces, 1):
        x, y, w, h = (round(v) for v in face["box"])
        print(
            f"{path}  face {i}  ({x}, {y}, {w}, {h})  confidence {face['confidence']:.3f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        providers = resolve_providers(args.providers, fallback=args.fallback)
        from edge_runtime.mtcnn import MTCNN

        detector = MTCNN(
            args.models, min_face_size=args.min_face, providers=providers, threads=args.threads
        )
    except (ProviderUnavailableError, ModelIntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    failed = 0
    for source in args.source:
        paths = list(expand_source(source))
        if not paths:
            print(f"error: {source}: no images found", file=sys.stderr)
            failed += 1
        for path in paths:
            try:
                image = load_image(path, max_pixels=args.max_pixels)
            except ImageLoadError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            print_result(path, detector.detect(image), args.json)
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
