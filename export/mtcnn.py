"""Convert MTCNN's P-Net, R-Net and O-Net to ONNX: the `mtcnn` package's weights,
R-Net and O-Net fine-tuned by `python -m train detector` (`export_finetuned`), or the
student P-Net of `python -m train pnet` (`export_student_pnet`).

The `mtcnn` networks are subclassed Keras 3 models. tf2onnx's `from_keras` fails on
Keras 3 models (it reads `_get_save_spec` / `output_names`, which Keras 3 removed:
onnx/tensorflow-onnx#2348), so each network is wrapped in a `tf.function` with an
explicit input signature and converted with `from_function`.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

from edge_runtime.detectors import REFERENCE_THRESHOLDS
from edge_runtime.manifest import (
    DetectorEntry,
    LargeFaces,
    ModelFile,
    ReferenceBox,
    TensorSpec,
    update_detector,
    write_entry,
)
from export.onnx_graph import fuse_prelu
from train.inputs import read_json
from train.mtcnn_networks import NETWORKS, keras_network

OPSET = 17

PREPROCESSING = "RGB float32, channels first (NCHW), (pixel - 127.5) / 128"


def export_network(
    name: str,
    models_dir: Path,
    weights_file: Path | None = None,
    variant: str = "mtcnn",
    training: dict | None = None,
    model=None,
    derived: str = "finetuned_from",
) -> ModelFile:
    """Convert one MTCNN network to models_dir/<variant>/<name>.onnx; returns its manifest
    file entry (the caller lists it under its detector). weights_file: Keras weights of a
    fine-tuned run instead of the package's own; training: its run's numbers, kept as
    provenance; model: another Keras network with the same inputs and outputs (the student
    P-Net), weights loaded; derived: how a weights_file relates to the package's weights."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    _, weights, shape, output_names = NETWORKS[name]
    if model is None:
        model = keras_network(name, weights_file)

    signature = [tf.TensorSpec(shape, tf.float32, name="input")]

    @tf.function(input_signature=signature)
    def forward(x):
        return {out: y for out, y in zip(output_names, model(x), strict=True)}

    out = Path(models_dir) / variant / f"{name}.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    proto, _ = tf2onnx.convert.from_function(
        forward, input_signature=signature, opset=OPSET, inputs_as_nchw=["input:0"]
    )
    fuse_prelu(proto)
    onnx.checker.check_model(proto)
    out.write_bytes(proto.SerializeToString())
    source = {"package": "mtcnn", "version": version("mtcnn"), "weights": weights}
    if weights_file is not None:
        source = {derived: source, "weights": Path(weights_file).name}
    converter = {"tf2onnx": tf2onnx.__version__, "tensorflow": tf.__version__, "opset": OPSET}
    provenance = {"source": source, "converter": converter}
    if training is not None:
        provenance["training"] = training
    return ModelFile.hashed(
        models_dir,
        f"{variant}/{name}.onnx",
        TensorSpec("input", tuple(onnx_input_shape(proto)), "float32"),
        tuple(output_names),
        PREPROCESSING,
        provenance,
    )


def export_finetuned(
    run: Path, models_dir: Path, thresholds: tuple[float, float, float] | None = None
) -> list[Path]:
    """R-Net and O-Net of a `python -m train detector` run into the "finetuned" detector's
    entry, with how the reference MTCNN would draw its boxes (for the classifiers' crops).

    thresholds (P-Net, R-Net, O-Net) replace the detector's; None keeps them. Its P-Net
    stays (a detector new to the manifest takes the reference one, and its thresholds).
    """
    networks = {}
    for name in ("rnet", "onet"):
        metrics = read_json(run / name / "metrics.json", "a run of `python -m train detector`")
        keys = ("started_from", "train_windows", "before", "after")
        training = {k: metrics[k] for k in keys if k in metrics}
        config = read_json(run / name / "config.json", "a run of `python -m train detector`")
        training |= {k: config[k] for k in ("grayscale", "keep_boxes") if config.get(k)}
        weights = run / name / f"{name}.weights.h5"
        networks[name] = export_network(name, models_dir, weights, "finetuned", training)
    box = read_json(run / "samples.json", "a run of `python -m train detector`")["reference_box"]
    reference_box = ReferenceBox(tuple(box["shift"]), tuple(box["scale"]), box["faces"])

    def change(detector: DetectorEntry) -> DetectorEntry:
        return replace(
            detector,
            **networks,
            thresholds=tuple(thresholds or detector.thresholds),
            reference_box=reference_box,
        )

    update_detector(models_dir, "finetuned", change)
    return [Path(models_dir) / model.file for model in networks.values()]


def export_student_pnet(
    run: Path,
    models_dir: Path,
    threshold: float,
    large_faces: tuple[float, float] | None = None,
) -> Path:
    """The student P-Net of a `python -m train pnet` run as the "finetuned" detector's P-Net,
    with its own threshold (it replaces the detector's first one), optionally another one
    on the levels for faces of at least large_faces[0] px, and the pyramid it learnt on in
    the manifest."""
    from train.pnet import student_pnet

    metrics = read_json(run / "metrics.json", "a run of `python -m train pnet`")
    model = student_pnet(tuple(metrics["widths"]))
    weights = run / "pnet.weights.h5"
    model.load_weights(weights)
    training = {k: metrics[k] for k in ("widths", "params", "train_tiles", "val")}
    pnet = export_network(
        "pnet", models_dir, weights, "finetuned", training, model, "distilled_from"
    )

    def change(detector: DetectorEntry) -> DetectorEntry:
        return replace(
            detector,
            pnet=pnet,
            thresholds=(threshold, *detector.thresholds[1:]),
            pyramid=metrics["pyramid"],
            large_faces=LargeFaces(*large_faces) if large_faces else None,
        )

    update_detector(models_dir, "finetuned", change)
    return Path(models_dir) / pnet.file


def onnx_input_shape(proto) -> list[int | None]:
    """The first input's shape, None for dynamic dimensions."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def export_all(models_dir: Path) -> list[Path]:
    """Export P-Net, R-Net and O-Net as the reference "mtcnn" detector (its thresholds,
    the area pyramid); returns the written paths."""
    networks = {name: export_network(name, models_dir) for name in NETWORKS}
    write_entry(
        models_dir,
        "mtcnn",
        DetectorEntry(**networks, thresholds=REFERENCE_THRESHOLDS, pyramid="area"),
    )
    return [Path(models_dir) / model.file for model in networks.values()]
