"""Compare two `python -m edge_runtime --json` runs of the same photos (e.g. x86-64 vs arm64).

    python scripts/compare_runs.py a.jsonl b.jsonl --tolerance 1e-3 --classifier-tolerance 1e-2

Photos are paired by file name, faces by their boxes (two faces of equal confidence may
come in either order). Same faces means the same count and boxes within --box-px pixels;
the detector's confidence must agree within --tolerance and the classifiers within
--classifier-tolerance, compared as p_mask and P(Male) (p_gender is the probability of the
gender shown, which flips with the label). A label may differ only where the
probabilities agree within that tolerance, that is, for a face that close to its
threshold. The shipped classifiers are int8, and ONNX Runtime's int8 kernels round
differently on Arm and x86 (docs/deploy.md). Prints one line per face and exits 1 on any
difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.types import Labels

CLASSIFIER_PROBABILITIES = ("p_mask", "p_male")


def read_run(path: Path) -> dict[str, dict]:
    """JSON Lines -> {file name: record}."""
    lines = path.read_text().splitlines()
    records = [r for r in map(json.loads, filter(None, lines)) if "path" in r]
    for record in records:
        for face in record["faces"]:
            if face.get("p_gender") is not None:
                face["p_male"] = Labels.from_dict(face).p_male
    return {Path(r["path"]).name: r for r in records}


def box_distance(a: dict, b: dict) -> float:
    """Largest coordinate difference of two faces' boxes, in pixels."""
    return max(abs(x - y) for x, y in zip(a["box"], b["box"], strict=True))


def paired(faces_a: list[dict], faces_b: list[dict]) -> list[tuple[dict, dict]]:
    """Each face of `faces_a` with the nearest box of `faces_b` (same count assumed)."""
    left = list(faces_b)
    pairs = []
    for a in faces_a:
        b = min(left, key=lambda f: box_distance(a, f))
        left.remove(b)
        pairs.append((a, b))
    return pairs


def compare_face(
    a: dict, b: dict, tolerance: float, classifier_tolerance: float, box_px: float
) -> list[str]:
    """What differs between two faces of the same photo (empty when they agree)."""
    problems = []
    box_diff = box_distance(a, b)
    if box_diff > box_px:
        problems.append(f"box differs by {box_diff:.1f} px")
    if abs(a["confidence"] - b["confidence"]) > tolerance:
        problems.append(f"confidence {a['confidence']} vs {b['confidence']}")
    for key in CLASSIFIER_PROBABILITIES:
        if a.get(key) is not None and abs(a[key] - b[key]) > classifier_tolerance:
            problems.append(f"{key} {a[key]:.4f} vs {b[key]:.4f}")
    if problems:  # a label may differ only near its threshold, inside the tolerance
        problems += [
            f"{key} {a.get(key)} vs {b.get(key)}"
            for key in ("mask", "gender")
            if a.get(key) != b.get(key)
        ]
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
        for i, (a, b) in enumerate(paired(fa, fb), 1):
            problems = compare_face(a, b, args.tolerance, args.classifier_tolerance, args.box_px)
            worst["detector"] = max(worst["detector"], abs(a["confidence"] - b["confidence"]))
            worst["classifiers"] = max(
                [worst["classifiers"]] + [abs(a[k] - b[k]) for k in CLASSIFIER_PROBABILITIES]
            )
            label = f"{Labels.from_dict(a).mask_label} {a['gender']}"
            relabelled = [k for k in ("mask", "gender") if a.get(k) != b.get(k)]
            verdict = "; ".join(problems) if problems else "same"
            if relabelled and not problems:
                verdict = f"{' and '.join(relabelled)} differs at the threshold (within tolerance)"
            print(
                f"{name}  face {i}  {label}  box {a['box']}  confidence {a['confidence']:.4f}/"
                f"{b['confidence']:.4f}  p_mask {a['p_mask']:.4f}/{b['p_mask']:.4f}  "
                f"P(Male) {a['p_male']:.4f}/{b['p_male']:.4f}  {verdict}"
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
