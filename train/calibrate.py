"""`python -m train calibrate`: a run's decision threshold and flip averaging, chosen on validation.

The threshold is the one at which the two classes' validation error rates (women and men,
for the gender models) are closest, so neither group pays for the other's accuracy.
Horizontal-flip test-time averaging is kept only if it gains at least `MIN_FLIP_GAIN` of
validation accuracy, since it doubles the model's cost per face. The choice is written to
`labels.json` (what export puts into the manifest), `calibration.json`, and `metrics.json`
is recomputed with it; the test split is only measured, never used to choose.

`--model FILE` chooses the same way for an exported classifier as the runtime runs it
(int8 or float16 weights, which do not give the Keras model's probabilities) and writes
the choice into its manifest entry: the threshold that ships is the shipped file's own.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_runtime.classifier import plain_and_flip_mean
from train.inputs import InputError, check_same_crops
from train.metrics import binary_metrics
from train.run_model import checked_run_labels, load_run_model

MIN_FLIP_GAIN = 0.005
MIN_CLASS_FACES = 20  # validation faces of each class a file's calibration needs
GRID = np.round(np.arange(0.02, 0.981, 0.005), 3)


def class_error_rates(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float, float]:
    """Share of class 0 called class 1, and of class 1 called class 0, at `threshold`."""
    y = np.asarray(y, int)
    return float(np.mean(p[y == 0] > threshold)), float(np.mean(p[y == 1] <= threshold))


def balanced_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold on a 0.005 grid where both classes' error rates are closest.

    Ties (a flat stretch between two probabilities) go to the higher accuracy, then to the
    threshold nearest 0.5.
    """
    y = np.asarray(y, int)

    def cost(t: float) -> tuple[float, float, float]:
        e0, e1 = class_error_rates(y, p, t)
        accuracy = float(np.mean((p > t) == y))
        return (round(abs(e0 - e1), 6), -accuracy, abs(t - 0.5))

    return float(min(GRID, key=cost))


def choose(y: np.ndarray, p: np.ndarray, p_flip: np.ndarray) -> dict:
    """Threshold and flip decision from validation labels and both kinds of probabilities."""
    plain_t, flip_t = balanced_threshold(y, p), balanced_threshold(y, p_flip)
    plain_acc = float(np.mean((p > plain_t) == y))
    flip_acc = float(np.mean((p_flip > flip_t) == y))
    flip = flip_acc - plain_acc >= MIN_FLIP_GAIN
    threshold = flip_t if flip else plain_t
    chosen = p_flip if flip else p
    return {
        "threshold": threshold,
        "flip": bool(flip),
        "val_n": len(y),
        "val_accuracy_at_0.5": float(np.mean((p > 0.5) == y)),
        "val_error_rates_at_0.5": list(class_error_rates(y, p, 0.5)),
        "val_accuracy_plain": plain_acc,
        "val_threshold_plain": plain_t,
        "val_accuracy_flip": flip_acc,
        "val_threshold_flip": flip_t,
        "val_error_rates_chosen": list(class_error_rates(y, chosen, threshold)),
        "min_flip_gain": MIN_FLIP_GAIN,
    }


def calibrate(run: Path, data: Path) -> dict:
    """Choose on the validation split, rewrite the run's labels.json and metrics.json."""
    run, data = Path(run), Path(data)
    labels = checked_run_labels(run, data)
    from train.model import keras_probabilities
    from train.prepare import load_split_images

    names = labels["class_names"]
    model = load_run_model(run)
    probabilities = {}
    for split in ("val", "test"):
        images, rows = load_split_images(data, split)
        y = np.array([names.index(r["label"]) for r in rows])
        plain, flipped = plain_and_flip_mean(lambda x: keras_probabilities(model, x), images)
        probabilities[split] = (y, plain, flipped, rows)
    y, p, p_flip, _ = probabilities["val"]
    calibration = choose(y, p, p_flip)
    (run / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    labels.update(threshold=calibration["threshold"], flip=calibration["flip"])
    (run / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")

    metrics = json.loads((run / "metrics.json").read_text())
    for split, (y, p, p_flip, rows) in probabilities.items():
        chosen = p_flip if calibration["flip"] else p
        metrics[split] = binary_metrics(
            y, chosen, names, [r["source"] for r in rows], calibration["threshold"]
        )
        metrics[f"{split}_at_0.5_no_flip"] = binary_metrics(
            y, p, names, [r["source"] for r in rows], 0.5
        )
    metrics["calibration"] = calibration
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return calibration


def calibrate_file(model: Path, data: Path) -> dict:
    """Choose an exported classifier's threshold and flip averaging on the validation split
    through the runtime's `Classifier`, and write them, with the choice, into its entry in
    the manifest beside it. The provenance keeps what export wrote (`exported_with`, with
    its validation numbers) across reruns. InputError for a file the manifest does not list
    once and for data with too few validation faces of a class or cut otherwise than the
    model's crops; ModelIntegrityError for a file or manifest that fails its check."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.manifest import (
        check_models_folder,
        read_manifest,
        verified_classifier,
        write_entry,
    )
    from train.prepare import load_crops, read_index

    model, data = Path(model), Path(data)
    if model.suffix != ".onnx" or not model.is_file():
        raise InputError(f"{model}: not an exported classifier (.onnx file; a run takes --run)")
    check_models_folder(model.parent)
    manifest = read_manifest(model.parent)
    classifiers = {n: e for n, e in manifest.models.items() if e.kind == "classifier"}
    names = [n for n, e in classifiers.items() if e.model.file == model.name]
    if len(names) != 1:
        listed = f"{len(names)} classifier entries ({', '.join(names)})" if names else "none"
        raise InputError(f"{model}: {listed} for this file in {manifest.path}; one is needed")
    (name,) = names
    entry = verified_classifier(model.parent, name)[1]
    check_same_crops(
        {"task": entry.task, "input_size": entry.input_size, "margin": entry.crop_margin}, data
    )
    rows = [r for r in read_index(data) if r["split"] == "val"]
    counts = {c: sum(r["label"] == c for r in rows) for c in entry.class_names}
    if min(counts.values()) < MIN_CLASS_FACES:
        have = " and ".join(f"{n} {c}" for c, n in counts.items())
        raise InputError(
            f"{data}: {have} validation faces; choosing a threshold needs at least "
            f"{MIN_CLASS_FACES} of each"
        )
    classifier = Classifier(model.parent, name)
    try:
        chunks = [
            plain_and_flip_mean(
                lambda x: classifier.predict(x, no_flip=True), load_crops(data, rows[i : i + 256])
            )
            for i in range(0, len(rows), 256)
        ]
    finally:
        classifier.close()
    p, p_flip = (np.concatenate(part) for part in zip(*chunks, strict=True))
    y = np.array([entry.class_names.index(r["label"]) for r in rows])
    calibration = choose(y, p, p_flip) | {"val_counts": counts}
    exported = entry.model.provenance.get("calibration", {}).get(
        "exported_with", {"threshold": entry.threshold, "flip": entry.test_time_flip}
    )
    at_export = p_flip if exported["flip"] else p
    exported = exported | {
        "val_accuracy": float(np.mean((at_export > exported["threshold"]) == y)),
        "val_error_rates": list(class_error_rates(y, at_export, exported["threshold"])),
    }
    provenance = entry.model.provenance | {"calibration": calibration | {"exported_with": exported}}
    write_entry(
        model.parent,
        name,
        replace(
            entry,
            threshold=calibration["threshold"],
            test_time_flip=calibration["flip"],
            model=replace(entry.model, provenance=provenance),
        ),
    )
    print(
        f"{manifest.path}: {name} threshold {entry.threshold} -> {calibration['threshold']}, "
        f"flip {entry.test_time_flip} -> {calibration['flip']}",
        file=sys.stderr,
    )
    return calibration
