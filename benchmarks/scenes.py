"""`python -m benchmarks.scenes DIR...`: end-to-end evaluation on photos with VOC face boxes.

    python -m benchmarks.scenes ../shared/data/scenes_voc ../shared/data/scenes_webcam \\
        --out benchmarks/results/scenes

Detection recall and precision at IoU 0.5 by face size (longer box side: < 20, 20-40,
>= 40 px), and mask accuracy on matched faces (`mask_weared_incorrect` boxes count for
detection but not for mask accuracy). Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.report import save_report
from benchmarks.voc import SIZE_BUCKETS, face_size, match, read_folder
from edge_runtime.image_io import load_image

MASK_LABELS = {"with_mask": True, "without_mask": False}


def evaluate(folder: Path, pipeline, iou: float = 0.5) -> dict:
    """Counts per size bucket for one scenes folder."""
    counts = {
        name: {
            "faces": 0,
            "found": 0,
            "detections": 0,
            "true_detections": 0,
            "mask_judged": 0,
            "mask_correct": 0,
        }
        for name, _, _ in SIZE_BUCKETS
    }
    seconds = []
    annotations = read_folder(folder)
    for ann in tqdm(annotations, desc=folder.name, unit="photo"):
        image = load_image(ann.image)
        started = time.perf_counter()
        faces = pipeline.predict(image)
        seconds.append(time.perf_counter() - started)
        found = np.array([f.box for f in faces], float).reshape(-1, 4)
        scores = np.array([f.score for f in faces], float)
        matched = match(ann.boxes, found, scores, iou)
        true_sizes, found_sizes = face_size(ann.boxes), face_size(found)
        hit = set(matched[matched >= 0].tolist())
        for name, low, high in SIZE_BUCKETS:
            c = counts[name]
            in_bucket = (true_sizes >= low) & (true_sizes < high)
            c["faces"] += int(in_bucket.sum())
            c["found"] += int((matched[in_bucket] >= 0).sum())
            det_bucket = np.flatnonzero((found_sizes >= low) & (found_sizes < high))
            c["detections"] += len(det_bucket)
            c["true_detections"] += sum(int(d in hit) for d in det_bucket)
            for t in np.flatnonzero(in_bucket & (matched >= 0)):
                label = ann.labels[t]
                if label in MASK_LABELS and faces[matched[t]].mask is not None:
                    c["mask_judged"] += 1
                    c["mask_correct"] += int(faces[matched[t]].mask == MASK_LABELS[label])
    for c in counts.values():
        c["recall"] = c["found"] / c["faces"] if c["faces"] else None
        c["precision"] = c["true_detections"] / c["detections"] if c["detections"] else None
        c["mask_accuracy"] = c["mask_correct"] / c["mask_judged"] if c["mask_judged"] else None
    return {
        "folder": str(folder),
        "photos": len(annotations),
        "iou": iou,
        "ms_per_photo_median": 1000 * float(np.median(seconds)) if seconds else None,
        "by_size": counts,
    }


def to_markdown(results: list[dict]) -> str:
    """One table per folder."""
    out = []
    for r in results:
        out += [
            f"### {Path(r['folder']).name}: {r['photos']} photos, IoU {r['iou']}, "
            f"median {r['ms_per_photo_median']:.0f} ms per photo",
            "",
            "| face size | faces | recall | detections | precision | mask judged | mask accuracy |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, c in r["by_size"].items():

            def pct(v):
                return "-" if v is None else f"{v:.1%}"

            out.append(
                f"| {name} px | {c['faces']} | {pct(c['recall'])} | {c['detections']} "
                f"| {pct(c['precision'])} | {c['mask_judged']} | "
                f"{pct(c['mask_accuracy'])} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folders", type=Path, nargs="+", help="folders with images/ annotations/")
    parser.add_argument("--out", type=Path, required=True, help="path stem for .md and .json")
    parser.add_argument("--models", type=Path, default=None)
    args = parser.parse_args(argv)
    from edge_runtime.pipeline import Pipeline

    pipeline = Pipeline(args.models)
    results = [evaluate(folder, pipeline) for folder in args.folders]
    save_report(args.out, results, to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
