"""`python -m export model`: a trained .keras classifier -> ONNX, behind a parity gate.

The gate runs Keras and ONNX Runtime on the same real crops (the test split the model
was measured on) and refuses to write the model when they disagree: for float32, on any
label or by more than 1e-4 in probability; for float16-stored weights, on more than 0.1%
of labels. The ONNX metadata and the models manifest carry the class names, threshold,
input size, preprocessing, training metrics and the gate's numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_runtime.classifier import flip_mean
from edge_runtime.manifest import ClassifierEntry, ModelFile, TensorSpec, write_entry
from export.onnx_graph import store_weights_as_float16
from export.quantize import CALIBRATIONS, MAX_ACCURACY_DROP, held_out_crops, quantize_int8
from train.run_model import checked_run_labels, load_run_model

if TYPE_CHECKING:
    import onnx

OPSET = 17
MAX_DP_FP32 = 1e-4
MIN_AGREEMENT_FP16 = 0.999


class ParityError(RuntimeError):
    """ONNX and Keras disagree beyond the gate's limits; nothing was written."""


@dataclass(frozen=True, slots=True)
class Parity:
    """How closely the ONNX model follows Keras on the same images."""

    n: int
    agreement: float
    max_abs_dp: float
    accuracy: float | None = None  # of the ONNX model, where true labels were given

    def as_dict(self) -> dict:
        out = {"n": self.n, "label_agreement": self.agreement, "max_abs_dp": self.max_abs_dp}
        return out if self.accuracy is None else {**out, "accuracy": self.accuracy}


def keras_to_onnx(model, input_size: int):
    """ONNX proto of a Keras 3 model with a dynamic batch: input "image", output "probability".

    tf2onnx's `from_keras` reads attributes Keras 3 removed (onnx/tensorflow-onnx#2348), so the
    model is wrapped in a `tf.function` with an explicit signature and converted from that.
    """
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, input_size, input_size, 3), tf.float32, name="image")]

    @tf.function(input_signature=signature)
    def forward(image):
        return {"probability": model(image, training=False)}

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    return proto


def onnx_probabilities(
    model: str | bytes, images: np.ndarray, batch: int = 64, flip: bool = False
) -> np.ndarray:
    """P(class 1) of an ONNX classifier (a path or serialized bytes) on images, in batches;
    with `flip`, averaged with the mirrored images as the runtime does."""
    from edge_runtime.sessions import create_session

    session = create_session(model)  # the runtime's options: its int8 kernels on AVX2 CPUs

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                session.run(["probability"], {"image": x[i : i + batch]})[0].reshape(-1)
                for i in range(0, len(x), batch)
            ]
        )

    return flip_mean(run, images) if flip else run(images)


def check_parity(
    proto,
    keras_p: np.ndarray,
    images: np.ndarray,
    threshold: float,
    truth: np.ndarray | None = None,
    flip: bool = False,
) -> Parity:
    """Run the ONNX proto on `images` and compare with the Keras probabilities (and truth)."""
    onnx_p = onnx_probabilities(proto.SerializeToString(), images, flip=flip)
    agree = float(np.mean((onnx_p > threshold) == (keras_p > threshold)))
    accuracy = None if truth is None else float(np.mean((onnx_p > threshold) == truth))
    return Parity(
        len(images), agree, float(np.max(np.abs(onnx_p - keras_p), initial=0.0)), accuracy
    )


def closest_int8(
    proto: onnx.ModelProto,
    data: Path,
    keras_p: np.ndarray | None,
    crops: np.ndarray | None,
    threshold: float,
    flip: bool,
) -> tuple[onnx.ModelProto, dict]:
    """The int8 copy, of one per calibration, whose labels follow Keras (`keras_p`) on most
    of `crops` (ties: the smaller mean |dp|), and every copy's numbers; without crops to
    compare on (a small data set), the first calibration's copy."""
    if crops is None or keras_p is None:
        name = next(iter(CALIBRATIONS))
        return quantize_int8(proto, data, calibration=name), {"calibration": name, "held_out": {}}
    best, scores = None, {}
    for name in CALIBRATIONS:
        candidate = quantize_int8(proto, data, calibration=name)
        p = onnx_probabilities(candidate.SerializeToString(), crops, flip=flip)
        agree = int(np.sum((p > threshold) == (keras_p > threshold)))
        mean_dp = float(np.mean(np.abs(p - keras_p)))
        scores[name] = {"agree": agree, "n": len(crops), "mean_abs_dp": mean_dp}
        if best is None or (agree, -mean_dp) > (best[1]["agree"], -best[1]["mean_abs_dp"]):
            best = (candidate, scores[name], name)
    return best[0], {"calibration": best[2], "held_out": scores}


def export_classifier(
    keras_path: Path, data: Path, out: Path, name: str | None = None, weights: str = "float32"
) -> ClassifierEntry:
    """Convert, gate and write `out` plus its manifest entry; returns the entry.

    weights: "float32", "float16" (stored half size, computed in float32) or "int8"
    (static QDQ quantization, gated on test accuracy).
    """
    import onnx

    run = Path(keras_path).parent
    labels = checked_run_labels(keras_path, data)
    metrics = (
        json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
    )
    from train.model import keras_probabilities
    from train.prepare import load_split_images

    model = load_run_model(keras_path)
    images, rows = load_split_images(data)
    flip = bool(labels.get("flip", False))
    keras_p = keras_probabilities(model, images, flip)
    truth = np.array([labels["class_names"].index(r["label"]) for r in rows])

    proto = keras_to_onnx(model, labels["input_size"])
    parity = check_parity(proto, keras_p, images, labels["threshold"], flip=flip)
    if parity.agreement < 1.0 or parity.max_abs_dp > MAX_DP_FP32:
        raise ParityError(f"float32 ONNX differs from Keras: {parity.as_dict()}")
    gate = {"float32": parity.as_dict()}
    if weights == "float16":
        store_weights_as_float16(proto)
        half = check_parity(proto, keras_p, images, labels["threshold"], flip=flip)
        if half.agreement < MIN_AGREEMENT_FP16:
            raise ParityError(f"float16-weight ONNX agrees on too few labels: {half.as_dict()}")
        gate["float16_weights"] = half.as_dict()
    elif weights == "int8":
        held_out = held_out_crops(data)
        held_out_p = None if held_out is None else keras_probabilities(model, held_out, flip)
        proto, chosen = closest_int8(proto, data, held_out_p, held_out, labels["threshold"], flip)
        quantized = check_parity(proto, keras_p, images, labels["threshold"], truth, flip)
        accuracy = float(np.mean((keras_p > labels["threshold"]) == truth))
        gate["int8"] = {**quantized.as_dict(), "accuracy_keras": accuracy, **chosen}
        if accuracy - quantized.accuracy > MAX_ACCURACY_DROP:
            raise ParityError(f"int8 loses more than {MAX_ACCURACY_DROP:.0%}: {gate['int8']}")

    summary = {
        "task": labels["task"],
        "test_accuracy": metrics.get("test", {}).get("accuracy"),
        "test_n": metrics.get("test", {}).get("n"),
        "test_ci95": metrics.get("test", {}).get("ci95"),
    }
    meta = {
        "class_names": json.dumps(labels["class_names"]),
        "threshold": str(labels["threshold"]),
        "test_time_flip": str(flip),
        "input_size": str(labels["input_size"]),
        "preprocessing": labels["preprocessing"],
        "crop_margin": str(labels["margin"]),
        "metrics": json.dumps(summary),
        "parity": json.dumps(gate),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    size = labels["input_size"]
    model = ModelFile.hashed(
        out.parent,
        out.name,
        TensorSpec("image", (None, size, size, 3), "float32"),
        ("probability",),
        labels["preprocessing"],
        {"metrics": summary, "parity": gate},
    )
    entry = ClassifierEntry(
        model,
        labels["task"],
        tuple(labels["class_names"]),
        labels["threshold"],
        labels["margin"],
        flip,
        weights,
    )
    written = write_entry(out.parent, name or labels["task"], entry)
    assert isinstance(written, ClassifierEntry)
    return written
