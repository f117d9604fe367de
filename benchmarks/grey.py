"""`python -m benchmarks.grey`: a shipped classifier on the same faces in colour and in grey.

    python -m benchmarks.grey --data work/data/mask --models models work/models_mk_g \\
        --out benchmarks/results/grey_mask

Night and infrared cameras and black-and-white photos give grey faces; the models learn
on colour photos. For each models folder: accuracy and per-class recall of the task's
classifier (through the runtime's `Classifier`: its threshold, flip averaging) on the
prepared split's crops as they are and turned grey (PIL's "L": 0.299 R + 0.587 G +
0.114 B, in all three channels). Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.report import save_report

GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def to_grey(crops: np.ndarray) -> np.ndarray:
    """RGB uint8 crops (N, S, S, 3) as grey ones with three equal channels."""
    grey = np.rint(crops.astype(np.float32) @ GREY_WEIGHTS).clip(0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def colour_and_grey(data: Path, models: list[Path], split: str = "test") -> dict:
    """Each models folder's classifier for the prepared task, on `split` in colour and grey."""
    from edge_runtime.classifier import Classifier
    from train.inputs import check_same_crops, read_prepared
    from train.prepare import is_real, load_crops, read_index

    task = read_prepared(data)["task"]
    rows = [r for r in read_index(data) if r["split"] == split and is_real(r)]
    crops = load_crops(data, rows)
    table = []
    for folder in models:
        classifier = Classifier(folder, task)
        cut = {"task": task, "input_size": classifier.input_size, "margin": classifier.margin}
        check_same_crops(cut, data)
        truth = np.array([classifier.class_names.index(r["label"]) for r in rows])
        for kind, images in (("colour", crops), ("grey", to_grey(crops))):
            right = (classifier.predict(images) > classifier.threshold) == truth
            recall = {
                name: float(np.mean(right[truth == k]))
                for k, name in enumerate(classifier.class_names)
            }
            table.append(
                {
                    "models": str(folder),
                    "version": classifier.version,
                    "crops": kind,
                    "n": len(truth),
                    "right": int(right.sum()),
                    "accuracy": float(right.mean()),
                    "recall": recall,
                }
            )
        classifier.close()
    return {"task": task, "data": str(data), "split": split, "rows": table}


def to_markdown(result: dict) -> str:
    """The comparison as a Markdown table."""
    names = list(result["rows"][0]["recall"])
    recall_heads = " | ".join(f"{n} recall" for n in names)
    lines = [
        f"{result['task']}: {result['split']} split of `{result['data']}`, "
        f"{result['rows'][0]['n']} crops, in colour and turned grey",
        "",
        f"| models | version | crops | right | accuracy | {recall_heads} |",
        "|---|---|---|---:|---:|" + "---:|" * len(names),
    ]
    for r in result["rows"]:
        recalls = " | ".join(f"{r['recall'][n]:.1%}" for n in names)
        lines.append(
            f"| `{r['models']}` | {r['version']} | {r['crops']} | {r['right']} "
            f"| {r['accuracy']:.2%} | {recalls} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.grey",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="prepared folder")
    parser.add_argument(
        "--models", type=Path, nargs="+", default=[Path("models")], help="models folders"
    )
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("--out", type=Path, required=True, help="path stem for .md and .json")
    args = parser.parse_args(argv)
    result = colour_and_grey(args.data, args.models, args.split)
    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
