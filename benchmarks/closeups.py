"""`python -m benchmarks.closeups`: close-ups whose face runs past the frame, found by
detecting again on a copy with a border, against new false faces in street photos.

    python -m benchmarks.closeups --data ../shared/data --out benchmarks/results/closeups

Close-ups: every photo of `faces_halfface/masked` and `faces_masked_gender` shows one
masked face, so a photo with no face found is a miss; the test split of
`train.prepare.split_of` is reported apart (the others trained the gender models, not the
detector). Street photos: `scenes_voc` with its VOC boxes; the border only ever runs on
photos where nothing was found, so each border's new faces there are counted as true (IoU
>= 0.3 with a labelled face) or false. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.report import add_out_argument, models_folder, save_report
from edge_runtime.image_io import IMAGE_SUFFIXES, ImageLoadError, load_image

CLOSEUP_FOLDERS = ("faces_halfface/masked", "faces_masked_gender")


def closeup_photos(data: Path) -> list[Path]:
    """Every photo of the close-up folders, sorted."""
    return sorted(
        p
        for folder in CLOSEUP_FOLDERS
        for p in (data / folder).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
    )


def misses(photos: list[Path], detector, what: str) -> list[tuple[Path, np.ndarray]]:
    """The photos (and pixels) where `detector` finds no face."""
    missed = []
    for path in tqdm(photos, desc=what, unit="photo"):
        try:
            image = load_image(path)
        except ImageLoadError:
            continue
        if not len(detector.detect(image)):
            missed.append((path, image))
    return missed


def gender_of(path: Path) -> str:
    """The gender a close-up is labelled with: its female/ or male/ folder."""
    return "Female" if "female" in [p.lower() for p in path.parts] else "Male"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.closeups",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    add_out_argument(parser, required=True)
    parser.add_argument("--models", type=models_folder, default=None)
    args = parser.parse_args(argv)
    from edge_runtime.detectors import BORDER_RETRIES
    from edge_runtime.pipeline import Pipeline
    from train.prepare import split_of
    from train.voc import match, read_folder

    plain = Pipeline(args.models, border_retries=()).detector
    photos = closeup_photos(args.data)
    test = {p for p in photos if split_of(p) == "test"}
    missed = misses(photos, plain, "close-ups")
    scenes = {a.image: a for a in read_folder(args.data / "scenes_voc")}
    scene_missed = misses(sorted(scenes), plain, "scenes_voc")

    rows = []
    for retries in (BORDER_RETRIES[:1], BORDER_RETRIES):
        pipeline = Pipeline(args.models, border_retries=retries)
        answered, masked, gender_right = set(), 0, 0
        for path, image in missed:
            result = pipeline.run(image, path=str(path))
            if len(result):
                answered.add(path)
                masked += bool(result[0].mask)
                gender_right += result[0].gender == gender_of(path)
        true = false = 0
        for path, image in scene_missed:
            found = pipeline.detector.detect(image)
            matched = match(scenes[path].boxes, found.boxes, found.scores, 0.3)
            true += int((matched >= 0).sum())
            false += len(found) - int((matched >= 0).sum())
        rows.append(
            {
                "retries": [list(r) for r in retries],
                "answered": sorted(map(str, answered)),
                "masked": masked,
                "gender_right": gender_right,
                "scenes_true": true,
                "scenes_false": false,
            }
        )

    def share(subset: set[Path], answered: set[str]) -> str:
        missing = [p for p, _ in missed if p in subset and str(p) not in answered]
        return (
            f"{len(subset) - len(missing)} of {len(subset)} ({1 - len(missing) / len(subset):.1%})"
        )

    lines = [
        "## Close-ups: photos answered (a face found), and new faces in street photos",
        "",
        f"Close-ups: {len(photos)} photos of `{'`, `'.join(CLOSEUP_FOLDERS)}`, one masked face "
        f"each ({len(test)} in the test split). `scenes_voc`: {len(scenes)} photos, "
        f"{len(scene_missed)} with no face found without retries; retries run only on those.",
        "",
        "| retries (border, O-Net threshold) | close-ups answered | test split | "
        "new answers: mask / gender right | scenes_voc: new true faces | new false faces |",
        "|---|---:|---:|---:|---:|---:|",
        f"| none | {share(set(photos), set())} | {share(test, set())} | - | - | - |",
    ]
    for row in rows:
        answered = set(row["answered"])
        steps = ", then ".join(f"{b:g} / {t or 'own'}" for b, t in row["retries"])
        lines.append(
            f"| {steps} | {share(set(photos), answered)} | {share(test, answered)} | "
            f"{row['masked']} / {row['gender_right']} of {len(answered)} | "
            f"{row['scenes_true']} | {row['scenes_false']} |"
        )
    report = {
        "photos": len(photos),
        "test_photos": len(test),
        "missed_without_retries": [str(p) for p, _ in missed],
        "scenes_voc_photos": len(scenes),
        "scenes_voc_without_a_face": len(scene_missed),
        "rows": rows,
    }
    save_report(args.out, report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
