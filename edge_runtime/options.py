"""The detector and cascade options of the CLI and `batch`, declared once, and the exit
codes every command uses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_runtime.detectors import DEFAULT_DETECTOR, DEFAULT_MAX_SIDE, DETECTORS
from edge_runtime.image_io import DEFAULT_MAX_PIXELS

# 0 every input processed, 1 at least one input failed, 2 usage error.
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def program_name() -> str:
    """How the user called us, for usage lines: `edge-runtime` or `python -m edge_runtime`."""
    return "edge-runtime" if Path(sys.argv[0]).name == "edge-runtime" else "python -m edge_runtime"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that build a `Pipeline`: detector, cascade, providers, models, limits."""
    parser.add_argument("--min-face", type=float, default=20, help="smallest face, px (20)")
    parser.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help=f"detect on a copy shrunk to this longer side if larger ({DEFAULT_MAX_SIDE}; "
        "0: full resolution)",
    )
    parser.add_argument(
        "--detector",
        choices=sorted(DETECTORS),
        default=DEFAULT_DETECTOR,
        help=f"finetuned: MTCNN fine-tuned on masked faces; mtcnn: the reference weights "
        f"({DEFAULT_DETECTOR})",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="face detection confidence threshold, O-Net (default: the detector's own)",
    )
    parser.add_argument(
        "--faces-only",
        action="store_true",
        help="detect faces only, without the mask and gender models",
    )
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
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="models folder (default: the models this package ships, wherever it is installed)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images ({DEFAULT_MAX_PIXELS:,})",
    )


def pipeline_kwargs(args: argparse.Namespace, providers: list[str]) -> dict[str, Any]:
    """`Pipeline(**pipeline_kwargs(args, providers))` for parsed `add_pipeline_arguments`
    options; `providers` resolved (`sessions.resolve_providers`), or names that
    `batch.PipelineActor` resolves on its own machine."""
    return {
        "models_dir": args.models,
        "providers": providers,
        "threads": args.threads,
        "min_face_size": args.min_face,
        "face_threshold": args.threshold,
        "max_pixels": args.max_pixels,
        "classify": not args.faces_only,
        "detector": args.detector,
        "max_side": args.max_side,
    }
