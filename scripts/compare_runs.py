"""Compare two `python -m edge_runtime --json` runs of the same photos (e.g. x86-64 vs arm64).

    python scripts/compare_runs.py a.jsonl b.jsonl --tolerance 1e-3 --classifier-tolerance 1e-2

Photos are paired by file name. Same faces means the same count and boxes within
--box-px pixels; same labels means equal mask and gender decisions; the detector's
confidence must agree within --tolerance and the classifiers' p_mask and p_gender within
--classifier-tolerance (the shipped classifiers are int8, and ONNX Runtime's int8 kernels
round differently on Arm and x86; see docs/deploy.md). Prints one line per face and exits
1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROBABILITIES = ("confidence", "p_mask", "p_gender")
CLASSIFIER_PROBABILITIES = ("p_mask", "p_gender")


def read_run(path: Path) -> dict[str, dict]:
    """JSON Lines -> {file name: record}."""
    lines = path.read_text().splitlines()
    return {Path(r["path"]).name: r for r in map(json.loads, filter(None, lines))}


def compare_face(
    a: dict, b: dict, tolerance: float, classifier_tolerance: float, box_px: float
) -> list[str]:
    """What differs between two faces of the same photo (empty when they agree)."""
    problems = []
    box_diff = max(abs(x - y) for x, y in zip(a["box"], b["box"], strict=True))
    if box_diff > box_px:
        problems.append(f"box differs by {box_diff:.1f} px")
    for key in ("mask", "gender"):
        if a.get(key) != b.get(key):
            problems.append(f"{key} {a.get(key)} vs {b.get(key)}")
    for key in PROBABILITIES:
        limit = classifier_tolerance if key in CLASSIFIER_PROBABILITIES else tolerance
        if key in a and abs(a[key] - b[key]) > limit:
            problems.append(f"{key} {a[key]} vs {b[key]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-3, help="detector confidence")
    parser.add_argument(
        "--classifier-tolerance", type=float, default=1e-3, help="p_mask and p_gender"
    )
    parser.add_argument("--box-px", type=float, default=1.0)
    args = parser.parse_args(argv)
    ref, other = read_run(args.reference), read_run(args.other)
    failures = 0
    if set(ref) != set(other):
        print(f"photos differ: {sorted(set(ref) ^ set(other))}")
        failures += 1
    worst = {"detector": 0.0, "classifiers": 0.0}
    for name in sorted(set(ref) & set(other)):
        fa, fb = ref[name]["faces"], other[name]["faces"]
        if len(fa) != len(fb):
            print(f"{name}: {len(fa)} faces vs {len(fb)}")
            failures += 1
            continue
        for i, (a, b) in enumerate(zip(fa, fb, strict=True), 1):
            problems = compare_face(a, b, args.tolerance, args.classifier_tolerance, args.box_px)
            worst["detector"] = max(worst["detector"], abs(a["confidence"] - b["confidence"]))
            worst["classifiers"] = max(
                [worst["classifiers"]] + [abs(a[k] - b[k]) for k in CLASSIFIER_PROBABILITIES]
            )
            label = f"{'WithMask' if a['mask'] else 'WithoutMask'} {a['gender']}"
            verdict = "; ".join(problems) if problems else "same"
            print(
                f"{name}  face {i}  {label}  box {a['box']}  confidence {a['confidence']:.4f}/"
                f"{b['confidence']:.4f}  p_mask {a['p_mask']:.4f}/{b['p_mask']:.4f}  "
                f"p_gender {a['p_gender']:.4f}/{b['p_gender']:.4f}  {verdict}"
            )
            failures += bool(problems)
    faces = sum(len(r["faces"]) for r in ref.values())
    print(
        f"{len(ref)} photos, {faces} faces; largest difference: detector confidence "
        f"{worst['detector']:.1e}, classifier probabilities {worst['classifiers']:.1e}; "
        + ("OK" if not failures else f"{failures} differences")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
