"""Static int8 quantization of a classifier (QDQ, per-channel weights, real-crop calibration).

EfficientNet is known to lose much more than other networks under naive int8; the export
step therefore measures the int8 model on the test split and refuses it when it loses more
than MAX_ACCURACY_DROP against Keras (`export.classifier`). The stem convolution and the
dense head stay float32 (`float_nodes`): a small share of the time, and of the variants
measured the one whose labels follow Keras most closely (`models/README.md`, "int8 with
the stem and the head in float32"). Activation ranges come from one of CALIBRATIONS: the
exporter tries each and keeps the copy that follows Keras best on `held_out_crops`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

CALIBRATION_CROPS = 256
HELD_OUT_CROPS = 1024
MAX_ACCURACY_DROP = 0.01
# How activation ranges are set: the extremes seen (min-max), or the 99.999th percentile,
# which a few outlying activations cannot stretch (name -> onnxruntime method, options).
CALIBRATIONS = {
    "minmax": ("MinMax", {}),
    "percentile": ("Percentile", {"CalibPercentile": 99.999}),
}


def _real_training_rows(data: Path, seed: int) -> list[dict]:
    """The real (not synthetic-mask) training rows, in a seeded random order."""
    from train.prepare import is_real, read_index

    real = [r for r in read_index(data) if r["split"] == "train" and is_real(r)]
    return [real[i] for i in np.random.default_rng(seed).permutation(len(real))]


def calibration_crops(data: Path, seed: int = 0) -> np.ndarray:
    """Validation crops; where there are fewer than CALIBRATION_CROPS, topped up with real
    (not synthetic-mask) training crops, so a small validation split still calibrates on 256.
    """
    from train.prepare import load_crops, load_split_images

    images, _ = load_split_images(data, "val")
    missing = CALIBRATION_CROPS - len(images)
    if missing <= 0:
        return images
    extra = _real_training_rows(data, seed)[:missing]
    return np.concatenate([images, load_crops(data, extra)])


def held_out_crops(data: Path, seed: int = 0) -> np.ndarray:
    """Up to HELD_OUT_CROPS real training crops that calibration does not use: where the
    calibrations are compared (the test split stays for the gate)."""
    from train.prepare import load_crops, load_split_images

    used = max(0, CALIBRATION_CROPS - len(load_split_images(data, "val")[1]))
    return load_crops(data, _real_training_rows(data, seed)[used : used + HELD_OUT_CROPS])


def float_nodes(proto: onnx.ModelProto) -> list[str]:
    """Names of the nodes left in float32: the first convolution (the stem: tf2onnx writes
    nodes in topological order) and the dense layers."""
    convolutions = [node.name for node in proto.graph.node if node.op_type == "Conv"]
    dense = [node.name for node in proto.graph.node if node.op_type in ("MatMul", "Gemm")]
    return convolutions[:1] + dense


def quantize_int8(proto, data: Path, seed: int = 0, calibration: str = "minmax"):
    """Quantized copy of a float32 ONNX proto, calibrated on `calibration_crops(data)` by
    one of CALIBRATIONS."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    method, options = CALIBRATIONS[calibration]
    images = calibration_crops(data, seed)
    picks = np.random.default_rng(seed).permutation(len(images))[:CALIBRATION_CROPS]
    batches = [{"image": images[picks[i : i + 16]]} for i in range(0, len(picks), 16)]

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32.write_bytes(proto.SerializeToString())
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(int8),
            Calibration(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=float_nodes(onnx.load(str(prepared))),
            calibrate_method=CalibrationMethod[method],
            extra_options=options,
        )
        return onnx.load(str(int8))
