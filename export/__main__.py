"""`python -m export mtcnn|detector|pnet|model`: MTCNN (reference, fine-tuned, student P-Net),
classifiers -> ONNX."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.manifest import DEFAULT_MODELS_DIR
from train.inputs import InputError, existing_path


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen export; exit 1 when the gate refuses a model,
    2 for input it cannot use (one line on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_mtcnn = sub.add_parser("mtcnn", help="convert the mtcnn package's P/R/O-Net to ONNX")
    p_mtcnn.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    p_det = sub.add_parser(
        "detector", help="R-Net and O-Net of a `python -m train detector` run to ONNX"
    )
    p_det.add_argument(
        "--run", type=existing_path, required=True, help="run folder of train detector"
    )
    p_det.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    p_det.add_argument(
        "--thresholds",
        type=float,
        nargs=3,
        default=None,
        metavar=("PNET", "RNET", "ONET"),
        help="the detector's default thresholds, stored in the manifest (default: keep its "
        "own; a detector new to the manifest takes the reference's 0.6 0.7 0.8)",
    )
    p_pnet = sub.add_parser("pnet", help="the student P-Net of a `python -m train pnet` run")
    p_pnet.add_argument("--run", type=existing_path, required=True, help="run folder of train pnet")
    p_pnet.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    p_pnet.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="its face threshold: the detector's P-Net threshold in the manifest (0.6)",
    )
    p_pnet.add_argument(
        "--large-faces",
        type=float,
        nargs=2,
        default=None,
        metavar=("FROM_PX", "THRESHOLD"),
        help="another threshold on the pyramid levels for faces of FROM_PX or more",
    )
    p_model = sub.add_parser(
        "model", help="a trained .keras classifier to ONNX, behind a parity gate"
    )
    p_model.add_argument(
        "--keras", type=existing_path, required=True, help="model.keras of a fit run"
    )
    p_model.add_argument(
        "--data",
        type=existing_path,
        required=True,
        help="the prepared folder whose test split the gate runs on",
    )
    p_model.add_argument("--out", type=Path, required=True, help="e.g. models/mask.onnx")
    p_model.add_argument("--name", default=None, help="manifest name (default: the task)")
    p_model.add_argument(
        "--weights",
        choices=["float32", "float16", "int8"],
        default="float32",
        help="float16: weights stored in half precision (half the file, own gate); "
        "int8: static QDQ quantization, refused if it loses more than 1 point of accuracy",
    )
    args = parser.parse_args(argv)
    from export.classifier import ParityError

    try:
        run(args)
    except ParityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    """The export `args.command`, with its parsed options."""
    if args.command == "mtcnn":
        from export.mtcnn import export_all

        for path in export_all(args.models):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    elif args.command == "detector":
        from export.mtcnn import export_finetuned

        for path in export_finetuned(args.run, args.models, args.thresholds):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    elif args.command == "pnet":
        from export.mtcnn import export_student_pnet

        path = export_student_pnet(args.run, args.models, args.threshold, args.large_faces)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    elif args.command == "model":
        from export.classifier import export_classifier

        entry = export_classifier(args.keras, args.data, args.out, args.name, args.weights)
        print(
            json.dumps(
                {
                    "file": str(args.out),
                    "bytes": entry.model.bytes,
                    "parity": entry.model.provenance["parity"],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
