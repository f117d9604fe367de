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


def training_rows_for(data: Path, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Real (not synthetic-mask) training rows in a seeded order, split in two that never
    overlap: those that top calibration up to CALIBRATION_CROPS where the validation split
    has fewer, then up to HELD_OUT_CROPS that calibration never sees."""
    from train.prepare import is_real, read_index

    rows = read_index(data)
    real = [r for r in rows if r["split"] == "train" and is_real(r)]
    ordered = [real[i] for i in np.random.default_rng(seed).permutation(len(real))]
    top_up = max(0, CALIBRATION_CROPS - sum(r["split"] == "val" for r in rows))
    return ordered[:top_up], ordered[top_up : top_up + HELD_OUT_CROPS]


def calibration_crops(data: Path, seed: int = 0) -> np.ndarray:
    """Validation crops; where there are fewer than CALIBRATION_CROPS, topped up with real
    (not synthetic-mask) training crops, so a small validation split still calibrates on 256.
    """
    from train.prepare import load_crops, load_split_images

    images, _ = load_split_images(data, "val")
    top_up, _ = training_rows_for(data, seed)
    return np.concatenate([images, load_crops(data, top_up)]) if top_up else images


def held_out_crops(data: Path, seed: int = 0) -> np.ndarray | None:
    """Up to HELD_OUT_CROPS real training crops that calibration does not use, where the
    calibrations are compared (the test split stays for the gate); None if none are left."""
    from train.prepare import load_crops

    _, held_out = training_rows_for(data, seed)
    return load_crops(data, held_out) if held_out else None


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
    # Batches of one size: the histogram (percentile) calibration stacks them together.
    step = 16 if len(picks) % 16 == 0 else 1
    batches = [{"image": images[picks[i : i + step]]} for i in range(0, len(picks), step)]

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
            extra_options=dict(options),
        )
        return onnx.load(str(int8))
