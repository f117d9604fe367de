"""`python -m benchmarks.masked_photos DIR`: how many photos of masked people get a face found.

    python -m benchmarks.masked_photos ../shared/data/scenes_masked \\
        --detectors finetuned mtcnn --out benchmarks/results/masked_photos

A recall check without boxes: every photo in `scenes_masked` shows at least one person
wearing a mask, so a photo where a detector finds no face is a miss (a few are posters,
which no detector should be blamed for). R-Net and O-Net never saw these photos; the
student P-Net (`python -m train pnet`) learnt from the reference P-Net's maps on the
train and val photos of `train.prepare.split_of` (no labels), so `--split test` keeps
the photos no part of the detector saw. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.report import add_out_argument, models_folder, save_report
from edge_runtime.image_io import IMAGE_SUFFIXES, ImageLoadError, load_image


def count_found(photos: list[Path], detector, name: str) -> dict:
    """Photos with at least one face, and faces found, for one detector."""
    with_face, faces, unreadable = 0, [], 0
    for path in tqdm(photos, desc=name, unit="photo"):
        try:
            image = load_image(path)
        except ImageLoadError:
            unreadable += 1
            continue
        found = len(detector.detect(image))
        with_face += found > 0
        faces.append(found)
    return {
        "detector": name,
        "photos": len(photos) - unreadable,
        "unreadable": unreadable,
        "photos_with_a_face": int(with_face),
        "share_with_a_face": with_face / max(len(faces), 1),
        "faces_found": int(np.sum(faces)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.masked_photos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path, help="photos of masked people (searched recursively)")
    add_out_argument(parser, required=True)
    parser.add_argument("--models", type=models_folder, default=None)
    parser.add_argument("--detectors", nargs="+", default=["finetuned", "mtcnn"])
    parser.add_argument(
        "--split", choices=["train", "val", "test"], default=None, help="only this split's photos"
    )
    args = parser.parse_args(argv)
    from edge_runtime.mtcnn import MTCNN
    from train.prepare import split_of

    photos = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    photos = [p for p in photos if args.split in (None, split_of(p))]
    results = [
        count_found(photos, MTCNN(args.models, detector=name), name) for name in args.detectors
    ]
    lines = [
        f"## {args.folder.name} ({args.split or 'all'} photos): photos of masked people "
        "where a face is found",
        "",
        "| detector | photos | with a face found | faces found |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| `{r['detector']}` | {r['photos']} | {r['photos_with_a_face']} "
        f"({r['share_with_a_face']:.1%}) | {r['faces_found']} |"
        for r in results
    ]
    save_report(args.out, {"folder": str(args.folder), "results": results}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
