"""`python -m benchmarks.accuracy`: Keras against its ONNX variants on the same test crops.

    python -m benchmarks.accuracy --keras work/runs/mask/model.keras --data work/data/mask \\
        --onnx models/mask.onnx --out benchmarks/results/accuracy_mask

For each variant: accuracy on the prepared test split, label agreement with Keras and the
largest probability difference. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report
from train.run_model import checked_run_labels, load_run_model


def weights_kind(path: Path) -> str:
    """float32, float16 (weights stored in half precision) or int8 (QDQ), read off the graph."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if any(n.op_type == "DequantizeLinear" for n in model.graph.node):
        return "int8"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
        return "float16"
    return "float32"


def compare_variants(keras_path: Path, data: Path, onnx_paths: list[Path]) -> dict:
    """Accuracy, agreement and max |dp| of Keras and each ONNX file on the test split."""

    from export.classifier import onnx_probabilities
    from train.model import keras_probabilities
    from train.prepare import load_split_images

    labels = checked_run_labels(keras_path, data)
    names, threshold = labels["class_names"], labels["threshold"]
    flip = bool(labels.get("flip", False))
    images, rows = load_split_images(data)
    truth = np.array([names.index(r["label"]) for r in rows])
    keras_p = keras_probabilities(load_run_model(keras_path), images, flip)
    variants = [{"variant": "keras", "file": str(keras_path), "p": keras_p}]
    for path in onnx_paths:
        p = onnx_probabilities(str(path), images, flip=flip)
        variants.append({"variant": f"onnx {weights_kind(path)}", "file": str(path), "p": p})
    table = []
    for v in variants:
        p = v.pop("p")
        table.append(
            {
                **v,
                "n": len(truth),
                "accuracy": float(np.mean((p > threshold) == truth)),
                "agreement_with_keras": float(np.mean((p > threshold) == (keras_p > threshold))),
                "max_abs_dp": float(np.max(np.abs(p - keras_p), initial=0.0)),
                "bytes": Path(v["file"]).stat().st_size,
            }
        )
    return {
        "task": labels["task"],
        "data": str(data),
        "split": "test",
        "threshold": threshold,
        "test_time_flip": flip,
        "rows": table,
    }


def to_markdown(result: dict) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"{result['task']}: test split of `{result['data']}`, {result['rows'][0]['n']} crops, "
        f"threshold {result.get('threshold', 0.5)}, flip averaging "
        f"{'on' if result.get('test_time_flip') else 'off'}",
        "",
        "| variant | file | MB | accuracy | agreement with Keras | max abs dp |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['variant']} | `{r['file']}` | {r['bytes'] / 1e6:.1f} | {r['accuracy']:.2%} "
            f"| {r['agreement_with_keras']:.2%} | {r['max_abs_dp']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keras", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="prepared folder")
    parser.add_argument("--onnx", type=Path, nargs="+", required=True)
    add_out_argument(parser, required=True)
    args = parser.parse_args(argv)
    result = compare_variants(args.keras, args.data, args.onnx)
    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
