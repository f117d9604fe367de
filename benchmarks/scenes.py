"""`python -m benchmarks.scenes DIR...`: end-to-end evaluation on photos with VOC face boxes.

    python -m benchmarks.scenes ../shared/data/scenes_voc ../shared/data/scenes_webcam \\
        --detectors finetuned mtcnn --split test --out benchmarks/results/scenes

For each detector: recall and precision at IoU 0.5 and 0.3 by face size (longer box
side: < 20, 20-40, >= 40 px), recall of masked faces (`with_mask`,
`mask_weared_incorrect`) and unmasked faces apart, mask accuracy on faces matched at
IoU 0.5 (`mask_weared_incorrect` counts for detection, not for mask accuracy), and the
median detection time per photo. --split keeps the photos of one split of
`train.prepare.split_of` (the fine-tuned detector trained on the train split); --grey
turns every photo grey first. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.report import add_out_argument, models_folder, save_report
from benchmarks.robustness import to_grey
from edge_runtime.boxes import face_size
from edge_runtime.detectors import DETECTORS
from edge_runtime.image_io import load_image
from train.voc import SIZE_BUCKETS, Annotation, match, read_folder

IOUS = (0.5, 0.3)
MASK_LABELS = {"with_mask": True, "without_mask": False}
MASKED = {"with_mask", "mask_weared_incorrect"}


def photos_of(folders: list[Path], split: str | None) -> list[Annotation]:
    """Annotations of every photo in the folders, optionally of one split only."""
    from train.prepare import split_of

    annotations = [a for folder in folders for a in read_folder(folder)]
    return [a for a in annotations if split is None or split_of(a.image) == split]


def empty_counts() -> dict:
    """Zeroed counters for one size bucket."""
    counts = {"faces": 0, "masked_faces": 0, "unmasked_faces": 0, "detections": 0}
    for iou in IOUS:
        counts |= {f"found@{iou}": 0, f"masked_found@{iou}": 0, f"unmasked_found@{iou}": 0}
        counts[f"true_detections@{iou}"] = 0
    return counts | {"mask_judged": 0, "mask_correct": 0}


def evaluate(annotations: list[Annotation], pipeline, name: str, grey: bool = False) -> dict:
    """Counts and rates per size bucket for one detector over the given photos (turned
    grey first if `grey`)."""
    counts = {bucket: empty_counts() for bucket, _, _ in SIZE_BUCKETS}
    detect_ms = []
    for ann in tqdm(annotations, desc=name, unit="photo"):
        image = load_image(ann.image)
        if grey:
            image = to_grey(image[None])[0]
        result = pipeline.run(image)
        detect_ms.append(result.speed["detect"])
        faces = result.faces
        found = np.array([f.box for f in faces], float).reshape(-1, 4)
        scores = np.array([f.confidence for f in faces], float)
        true_sizes, found_sizes = face_size(ann.boxes), face_size(found)
        masked = np.array([label in MASKED for label in ann.labels], bool)
        for iou in IOUS:
            matched = match(ann.boxes, found, scores, iou)
            hit = set(matched[matched >= 0].tolist())
            for bucket, low, high in SIZE_BUCKETS:
                c = counts[bucket]
                in_bucket = (true_sizes >= low) & (true_sizes < high)
                det_bucket = np.flatnonzero((found_sizes >= low) & (found_sizes < high))
                c[f"found@{iou}"] += int((matched[in_bucket] >= 0).sum())
                c[f"masked_found@{iou}"] += int((matched[in_bucket & masked] >= 0).sum())
                c[f"unmasked_found@{iou}"] += int((matched[in_bucket & ~masked] >= 0).sum())
                c[f"true_detections@{iou}"] += sum(int(d in hit) for d in det_bucket)
                if iou != IOUS[0]:
                    continue
                c["faces"] += int(in_bucket.sum())
                c["masked_faces"] += int((in_bucket & masked).sum())
                c["unmasked_faces"] += int((in_bucket & ~masked).sum())
                c["detections"] += len(det_bucket)
                for t in np.flatnonzero(in_bucket & (matched >= 0)):
                    label, face = ann.labels[t], faces[matched[t]]
                    if label in MASK_LABELS and face.mask is not None:
                        c["mask_judged"] += 1
                        c["mask_correct"] += int(face.mask == MASK_LABELS[label])
    for c in counts.values():
        for iou in IOUS:
            c[f"recall@{iou}"] = _rate(c[f"found@{iou}"], c["faces"])
            c[f"masked_recall@{iou}"] = _rate(c[f"masked_found@{iou}"], c["masked_faces"])
            c[f"unmasked_recall@{iou}"] = _rate(c[f"unmasked_found@{iou}"], c["unmasked_faces"])
            c[f"precision@{iou}"] = _rate(c[f"true_detections@{iou}"], c["detections"])
        c["mask_accuracy"] = _rate(c["mask_correct"], c["mask_judged"])
    return {
        "detector": name,
        "photos": len(annotations),
        "detect_ms_median": float(np.median(detect_ms)) if detect_ms else None,
        "detect_ms_p10_p90": [float(v) for v in np.percentile(detect_ms, [10, 90])]
        if detect_ms
        else None,
        "by_size": counts,
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def to_markdown(results: list[dict], title: str) -> str:
    """One table per detector."""
    out = [f"## {title}", ""]
    for r in results:
        lo, hi = r["detect_ms_p10_p90"] or (0, 0)
        out += [
            f"### detector `{r['detector']}`: {r['photos']} photos, detection "
            f"{r['detect_ms_median']:.0f} ms median per photo (p10-p90 {lo:.0f}-{hi:.0f})",
            "",
            "| face size | faces (masked / unmasked) | recall @0.5 | recall @0.3 "
            "| precision @0.5 | precision @0.3 | masked recall @0.5 | unmasked recall @0.5 "
            "| mask accuracy (judged) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for bucket, c in r["by_size"].items():
            out.append(
                f"| {bucket} px | {c['faces']} ({c['masked_faces']} / {c['unmasked_faces']}) "
                f"| {_pct(c['recall@0.5'])} | {_pct(c['recall@0.3'])} "
                f"| {_pct(c['precision@0.5'])} | {_pct(c['precision@0.3'])} "
                f"| {_pct(c['masked_recall@0.5'])} | {_pct(c['unmasked_recall@0.5'])} "
                f"| {_pct(c['mask_accuracy'])} ({c['mask_judged']}) |"
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
    add_out_argument(parser, required=True)
    parser.add_argument("--models", type=models_folder, default=None)
    parser.add_argument(
        "--detectors",
        nargs="+",
        choices=DETECTORS,
        default=["finetuned", "mtcnn"],
        help="detectors to compare",
    )
    parser.add_argument(
        "--split", choices=["train", "val", "test"], default=None, help="only this split's photos"
    )
    parser.add_argument("--faces-only", action="store_true", help="skip the mask and gender models")
    parser.add_argument(
        "--grey", action="store_true", help="turn each photo grey first (a night camera's view)"
    )
    args = parser.parse_args(argv)
    from edge_runtime.pipeline import Pipeline

    annotations = photos_of(args.folders, args.split)
    if not annotations:
        where = " ".join(str(f) for f in args.folders)
        parser.error(
            f"no annotated photos{f' of the {args.split} split' if args.split else ''} in {where}"
        )
    results = []
    for name in args.detectors:
        pipeline = Pipeline(args.models, detector=name, faces_only=args.faces_only)
        results.append(evaluate(annotations, pipeline, name, args.grey))
    names = " + ".join(f.name for f in args.folders)
    title = f"{names}, {args.split or 'all'} photos" + (", grey" if args.grey else "")
    report = {"folders": [str(f) for f in args.folders], "split": args.split, "grey": args.grey}
    save_report(
        args.out,
        report | {"results": results},
        to_markdown(results, title),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
