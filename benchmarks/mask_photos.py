"""`python -m benchmarks.mask_photos`: the mask label end to end on whole photos that no mask
training used, in colour and grey.

    python -m benchmarks.mask_photos --data ../shared/data --models work/old/models models \\
        --out benchmarks/results/mask_photos

Sets (from `--data`): every halfFace photo, masked and unmasked (South Asian close-ups), and
a seeded sample of LFW and of UTKFace photos (unmasked). The mask model's data is
`faces_mask`, which holds none of them. Each photo goes through the `Pipeline` of each
models folder as it is and turned grey (`benchmarks.robustness.to_grey`); the largest face
counts, right when its mask label is the set's. Photos without a face found are counted
apart: detection is not what is measured. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from benchmarks.robustness import to_grey
from edge_runtime.image_io import ImageLoadError, load_image

SAMPLE = 300


def photo_sets(data: Path, sample: int = SAMPLE, seed: int = 0) -> dict[str, tuple[list, str]]:
    """Set name -> (photo paths, the mask label every face in them has)."""
    rng = random.Random(seed)

    def some(folder: str, prefix: str) -> list[Path]:
        files = sorted(p for p in (data / folder).rglob("*.jpg") if p.name.startswith(prefix))
        return sorted(rng.sample(files, min(sample, len(files))))

    return {
        "halfface masked": (sorted((data / "faces_halfface/masked").rglob("*.jpg")), "WithMask"),
        "halfface unmasked": (
            sorted((data / "faces_halfface/unmasked").rglob("*.jpg")),
            "WithoutMask",
        ),
        "lfw": (some("faces_gender_extra", "lfw"), "WithoutMask"),
        "utk": (some("faces_gender", "utk_"), "WithoutMask"),
    }


def measure(models: list[Path], sets: dict[str, tuple[list, str]]) -> dict:
    """Per models folder, set and colour: photos, faces found, right mask labels."""
    from edge_runtime import Pipeline

    rows = []
    for folder in models:
        pipeline = Pipeline(models=folder)
        for name, (files, want) in sets.items():
            counts = {"colour": [0, 0], "grey": [0, 0]}
            for path in files:
                try:
                    photo = load_image(path)
                except ImageLoadError:
                    continue
                for kind, image in (("colour", photo), ("grey", to_grey(photo[None])[0])):
                    faces = pipeline(image).faces
                    if faces:
                        face = max(faces, key=lambda f: f.box[2] - f.box[0])
                        counts[kind][0] += 1
                        counts[kind][1] += face.mask_label == want
            for kind, (found, right) in counts.items():
                rows.append(
                    {
                        "models": str(folder),
                        "set": name,
                        "label": want,
                        "crops": kind,
                        "photos": len(files),
                        "found": found,
                        "right": right,
                    }
                )
        pipeline.close()
    return {"rows": rows}


def to_markdown(result: dict) -> str:
    """One row per models folder, set and colour."""
    lines = [
        "Mask label of the largest face, whole photos no mask training used",
        "",
        "| models | set | truth | crops | photos | faces found | right |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        share = r["right"] / r["found"] if r["found"] else float("nan")
        lines.append(
            f"| `{r['models']}` | {r['set']} | {r['label']} | {r['crops']} | {r['photos']} "
            f"| {r['found']} | {r['right']} ({share:.1%}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mask_photos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument(
        "--models", type=Path, nargs="+", default=[Path("models")], help="models folders"
    )
    parser.add_argument("--sample", type=int, default=SAMPLE, help="LFW and UTKFace photos each")
    parser.add_argument("--out", type=Path, required=True, help="path stem for .md and .json")
    args = parser.parse_args(argv)
    result = measure(args.models, photo_sets(args.data, args.sample))
    from benchmarks.report import save_report

    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
