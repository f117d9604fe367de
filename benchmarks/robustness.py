"""`python -m benchmarks.robustness`: a classifier on the same faces as they are, grey, and pasted.

    python -m benchmarks.robustness --data work/data/mask --models work/old/models models \\
        --out benchmarks/results/robustness_mask

For each models folder: accuracy and per-class recall of the task's classifier (through
the runtime's `Classifier`: its threshold, flip averaging) on the prepared split's crops
- as they are ("colour");
- turned grey (PIL's "L": 0.299 R + 0.587 G + 0.114 B, in all three channels), as night
  and infrared cameras and black-and-white photos give them ("grey");
- "pasted": as if the photo lay on a flat page, so the crop runs past its edge: one to four
  sides get a band of 5-20% of the side in one grey level (30, 128, 235 or 255), the same
  bands for every model (seeded by the crop's position).
Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.report import add_models_argument, add_out_argument, save_report, usage_errors

GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def to_grey(crops: np.ndarray) -> np.ndarray:
    """RGB uint8 images (N, H, W, 3), crops or whole photos, as grey ones with three equal
    channels."""
    grey = np.rint(crops.astype(np.float32) @ GREY_WEIGHTS).clip(0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


PAGE_LEVELS = (30, 128, 235, 255)


def pasted(crops: np.ndarray) -> np.ndarray:
    """Crops with flat grey bands along some of their edges, the same every call."""
    out = crops.copy()
    side = crops.shape[1]
    for i, crop in enumerate(out):
        rng = np.random.default_rng(i)
        widths = rng.uniform(0.05, 0.2, 4) * (rng.uniform(size=4) < 0.5)
        if not widths.any():
            widths[rng.integers(4)] = rng.uniform(0.05, 0.2)
        top, bottom, left, right = np.rint(widths * side).astype(int)
        level = PAGE_LEVELS[rng.integers(len(PAGE_LEVELS))]
        crop[:top], crop[side - bottom :] = level, level
        crop[:, :left], crop[:, side - right :] = level, level
    return out


def variants(data: Path, models: list[Path], split: str = "test") -> dict:
    """Each models folder's classifier for the prepared task, on `split` as it is, grey and
    pasted."""
    from edge_runtime.classifier import Classifier
    from train.inputs import InputError, check_same_crops, read_prepared
    from train.prepare import is_real, load_crops, read_index

    task = read_prepared(data)["task"]
    rows = [r for r in read_index(data) if r["split"] == split and is_real(r)]
    if not rows:
        raise InputError(f"{data}: no real {split} faces")
    crops = load_crops(data, rows)
    table = []
    for folder in models:
        classifier = Classifier(folder, task)
        cut = {"task": task, "input_size": classifier.input_size, "margin": classifier.margin}
        check_same_crops(cut, data)
        truth = np.array([classifier.class_names.index(r["label"]) for r in rows])
        kinds = (("colour", crops), ("grey", to_grey(crops)), ("pasted", pasted(crops)))
        for kind, images in kinds:
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
        f"{result['rows'][0]['n']} crops: as they are, grey and pasted on a page",
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
        prog="python -m benchmarks.robustness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="prepared folder")
    add_models_argument(parser)
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    add_out_argument(parser, required=True)
    args = parser.parse_args(argv)
    with usage_errors(parser):
        result = variants(args.data, args.models, args.split)
    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
