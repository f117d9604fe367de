"""`python -m export mtcnn` converts the reference MTCNN weights to ONNX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_runtime.manifest import DEFAULT_MODELS_DIR


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen export."""
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_mtcnn = sub.add_parser("mtcnn", help="convert the mtcnn package's P/R/O-Net to ONNX")
    p_mtcnn.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    args = parser.parse_args(argv)

    if args.command == "mtcnn":
        from export.mtcnn import export_all

        for path in export_all(args.models):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
