"""`python -m benchmarks.seed_canvases`: the seed photos alone and pasted on flat pages.

    python -m benchmarks.seed_canvases --models models work/models_gm_e2 \\
        --out benchmarks/results/seed_canvases

(`work/models_gm_e2`: a candidate's models folder, made as `benchmarks/README.md` shows.)

Each seed photo (`tests/data`: the notebook's four and their cropped copies) goes through
the `Pipeline` of each models folder as it is, and pasted on flat canvases of the grey
levels in `CANVAS_LEVELS` (`on_canvas`), as a photo lying on a page, a poster or a
screenshot gives it. A case is right when the largest face has the photo's mask label and
gender (from its file name). Unlike `benchmarks.robustness`, these are whole photos, so the
detector's box moves with the canvas too: what a user sees. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.report import add_models_argument, add_out_argument, save_report, usage_errors
from edge_runtime.image_io import load_image
from edge_runtime.types import Face

CANVAS_LEVELS = (235, 255, 128, 30)
SEED_PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data"


def on_canvas(
    photo: np.ndarray, level: int, pad: int = 200, at: tuple[int, int] = (60, 100)
) -> np.ndarray:
    """The RGB photo on a flat canvas `pad` px wider and taller, its top-left corner at
    `at` (x, y): off centre, so each side gets a different band."""
    if not (0 <= at[0] <= pad and 0 <= at[1] <= pad):
        raise ValueError(f"the photo at {at} does not fit a canvas padded by {pad}")
    height, width = photo.shape[:2]
    canvas = np.full((height + pad, width + pad, 3), level, np.uint8)
    canvas[at[1] : at[1] + height, at[0] : at[0] + width] = photo
    return canvas


def truth(name: str) -> tuple[str, str]:
    """(mask label, gender) of a seed photo, from its file name."""
    mask = "WithMask" if "with_mask" in name else "WithoutMask"
    return mask, "Female" if name.startswith("female") else "Male"


def seed_photos(folder: Path = SEED_PHOTOS) -> list[Path]:
    """The seed photos in `folder`: the labelled JPEGs named like the notebook's."""
    return sorted(p for p in folder.glob("*.jpg") if p.name.startswith(("female", "male")))


def largest_face(faces: list[Face]) -> Face:
    """The face with the widest box: the one a photo of one person is about."""
    return max(faces, key=lambda f: f.box[2] - f.box[0])


def measure(models: list[Path], photos: list[Path]) -> dict:
    """Each models folder's largest face on each photo, alone and on each canvas."""
    from edge_runtime import Pipeline

    rows = []
    for folder in models:
        with Pipeline(models=folder) as pipeline:
            for path in photos:
                photo, expected = load_image(path), truth(path.name)
                for level in (None, *CANVAS_LEVELS):
                    image = photo if level is None else on_canvas(photo, level)
                    faces = pipeline(image).faces
                    row = {"models": str(folder), "photo": path.name, "canvas": level}
                    if faces:
                        face = largest_face(faces)
                        row |= {
                            "mask_label": face.mask_label,
                            "gender": face.gender,
                            "p_mask": face.p_mask,
                            "p_male": face.p_male,
                            "right": (face.mask_label, face.gender) == expected,
                        }
                    else:
                        row |= {"mask_label": None, "gender": None, "right": False}
                    rows.append(row)
    return {"photos": [p.name for p in photos], "levels": list(CANVAS_LEVELS), "rows": rows}


def to_markdown(result: dict) -> str:
    """Wrong cases per models folder, then every case that is wrong anywhere."""
    folders = list(dict.fromkeys(r["models"] for r in result["rows"]))
    lines = [
        f"{len(result['photos'])} seed photos, alone and on flat canvases of grey "
        + ", ".join(str(v) for v in result["levels"]),
        "",
        "A case is wrong when the largest face's mask label or gender differs from the photo's"
        " file name; each gender model has its own threshold on P(Male) (in its manifest).",
        "",
        "| models | wrong alone | wrong on a canvas |",
        "|---|---:|---:|",
    ]
    for folder in folders:
        mine = [r for r in result["rows"] if r["models"] == folder]
        alone = sum(not r["right"] for r in mine if r["canvas"] is None)
        canvas = [r for r in mine if r["canvas"] is not None]
        lines.append(
            f"| `{folder}` | {alone} of {len(mine) - len(canvas)} "
            f"| {sum(not r['right'] for r in canvas)} of {len(canvas)} |"
        )
    cases = {(r["photo"], r["canvas"]) for r in result["rows"] if not r["right"]}
    if not cases:
        return "\n".join([*lines, "", "No case wrong."]) + "\n"
    lines += [
        "",
        "The wrong cases:",
        "",
        "| photo | canvas | " + " | ".join(f"`{f}`" for f in folders) + " |",
    ]
    lines.append("|---|---|" + "---|" * len(folders))
    for photo, level in sorted(cases, key=lambda c: (c[0], -1 if c[1] is None else c[1])):
        cells = []
        for folder in folders:
            r = next(
                r
                for r in result["rows"]
                if (r["models"], r["photo"], r["canvas"]) == (folder, photo, level)
            )
            if r["gender"] is None:
                cells.append("no face")
            else:
                mark = "" if r["right"] else " **wrong**"
                cells.append(f"{r['mask_label']} {r['gender']} (P(Male) {r['p_male']:.2f}){mark}")
        where = "alone" if level is None else level
        lines.append(f"| {photo} | {where} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.seed_canvases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_models_argument(parser)
    add_out_argument(parser, required=True)
    args = parser.parse_args(argv)
    with usage_errors(parser):
        result = measure(args.models, seed_photos())

    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
