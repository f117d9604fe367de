"""`python -m benchmarks.mask_photos`: the mask label end to end on photos and face crops
that no mask training used, in colour and grey.

    mkdir -p work/old && git archive a35a800 models | tar -x -C work/old
    python -m benchmarks.mask_photos --data ../shared/data --models work/old/models models \\
        --out benchmarks/results/mask_photos

Sets (from `--data`, see its README): every halfFace photo, masked and unmasked (close-ups),
and a seeded sample of the LFW and of the UTKFace face crops (unmasked). The mask model's
data, `faces_mask`, holds none of these collections, so they test it on people and cameras
it never saw. Each image goes through the `Pipeline` of each models folder as it is and
turned grey (`benchmarks.robustness.to_grey`); the largest face counts (each image shows one
person), right when its mask label is the set's. Images without a face found are counted
apart, since detection is not what is measured here. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TypedDict

from benchmarks.report import add_models_argument, add_out_argument, save_report, usage_errors
from benchmarks.robustness import to_grey
from benchmarks.seed_canvases import largest_face
from edge_runtime.image_io import ImageLoadError, load_image
from edge_runtime.options import positive_int

SAMPLE = 300
PhotoSets = dict[str, tuple[list[Path], str]]


class SetRow(TypedDict):
    """One row of the report: a models folder on one set, in colour or grey."""

    models: str
    set: str
    label: str
    crops: str
    photos: int
    unreadable: int
    found: int
    right: int


def photo_sets(data: Path, sample: int = SAMPLE, seed: int = 0) -> PhotoSets:
    """Set name -> (image paths, the mask label of every face in them); each sample drawn
    with its own seeded generator. ValueError for a set with no images (a wrong `data`)."""

    def some(folder: str, prefix: str) -> list[Path]:
        files = sorted(p for p in (data / folder).rglob("*.jpg") if p.name.startswith(prefix))
        return sorted(random.Random(f"{seed}:{prefix}").sample(files, min(sample, len(files))))

    sets = {
        "halfface masked": (sorted((data / "faces_halfface/masked").rglob("*.jpg")), "WithMask"),
        "halfface unmasked": (
            sorted((data / "faces_halfface/unmasked").rglob("*.jpg")),
            "WithoutMask",
        ),
        "lfw": (some("faces_gender_extra", "lfw_"), "WithoutMask"),
        "utk": (some("faces_gender", "utk_"), "WithoutMask"),
    }
    empty = [name for name, (files, _) in sets.items() if not files]
    if empty:
        raise ValueError(f"{data}: no images for {', '.join(empty)} (the shared data folder?)")
    return sets


def measure(models: list[Path], sets: PhotoSets) -> list[SetRow]:
    """Per models folder, set and colour: images, unreadable ones, faces found, right labels."""
    from edge_runtime import Pipeline

    rows: list[SetRow] = []
    for folder in models:
        with Pipeline(models=folder) as pipeline:
            for name, (files, want) in sets.items():
                counts = {"colour": [0, 0], "grey": [0, 0]}
                unreadable = 0
                for path in files:
                    try:
                        photo = load_image(path)
                    except ImageLoadError:
                        unreadable += 1
                        continue
                    for kind, image in (("colour", photo), ("grey", to_grey(photo[None])[0])):
                        faces = pipeline(image).faces
                        if faces:
                            face = largest_face(faces)
                            counts[kind][0] += 1
                            counts[kind][1] += face.mask_label == want
                for kind, (found, right) in counts.items():
                    rows.append(
                        SetRow(
                            models=str(folder),
                            set=name,
                            label=want,
                            crops=kind,
                            photos=len(files),
                            unreadable=unreadable,
                            found=found,
                            right=right,
                        )
                    )
    return rows


def to_markdown(rows: list[SetRow]) -> str:
    """One table row per models folder, set and colour."""
    lines = [
        "Mask label of the largest face, images no mask training used",
        "",
        "| models | set | truth | crops | images | unreadable | faces found | right |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        share = f" ({r['right'] / r['found']:.1%})" if r["found"] else ""
        lines.append(
            f"| `{r['models']}` | {r['set']} | {r['label']} | {r['crops']} | {r['photos']} "
            f"| {r['unreadable']} | {r['found']} | {r['right']}{share} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mask_photos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    add_models_argument(parser)
    parser.add_argument(
        "--sample", type=positive_int, default=SAMPLE, help="LFW and UTKFace images each"
    )
    add_out_argument(parser, required=True)
    args = parser.parse_args(argv)
    try:
        sets = photo_sets(args.data, args.sample)
    except ValueError as exc:
        parser.error(str(exc))
    with usage_errors(parser):
        rows = measure(args.models, sets)

    save_report(args.out, rows, to_markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
