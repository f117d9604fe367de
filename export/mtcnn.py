"""Convert MTCNN's P-Net, R-Net and O-Net to ONNX: the `mtcnn` package's weights,
R-Net and O-Net fine-tuned by `python -m train detector` (`export_finetuned`), or the
student P-Net of `python -m train pnet` (`export_student_pnet`).

The `mtcnn` networks are subclassed Keras 3 models. tf2onnx's `from_keras` fails on
Keras 3 models (it reads `_get_save_spec` / `output_names`, which Keras 3 removed:
onnx/tensorflow-onnx#2348), so each network is wrapped in a `tf.function` with an
explicit input signature and converted with `from_function`.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from edge_runtime.manifest import write_entry
from export.onnx_graph import fuse_prelu
from train.mtcnn_networks import NETWORKS, keras_network

OPSET = 17

PREPROCESSING = "RGB float32, channels first (NCHW), (pixel - 127.5) / 128"


def export_network(
    name: str,
    models_dir: Path,
    weights_file: Path | None = None,
    variant: str = "mtcnn",
    extra: dict | None = None,
    model=None,
    derived: str = "finetuned_from",
) -> Path:
    """Convert one MTCNN network to models_dir/<variant>/<name>.onnx, listed in the manifest
    as <variant>_<name>. weights_file: Keras weights of a fine-tuned run instead of the
    package's own; extra: more manifest fields (e.g. thresholds, metrics); model: another
    Keras network with the same inputs and outputs (the student P-Net), weights loaded;
    derived: how a weights_file relates to the package's weights, in the manifest."""
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
    write_entry(
        models_dir,
        f"{variant}_{name}",
        {
            "file": f"{variant}/{name}.onnx",
            "kind": "mtcnn_stage",
            "input": {"name": "input", "shape": onnx_input_shape(proto), "dtype": "float32"},
            "outputs": list(output_names),
            "preprocessing": PREPROCESSING,
            "source": source,
            "converter": {
                "tf2onnx": tf2onnx.__version__,
                "tensorflow": tf.__version__,
                "opset": OPSET,
            },
            **(extra or {}),
        },
    )
    return out


def export_finetuned(
    run: Path, models_dir: Path, thresholds: tuple[float, float, float]
) -> list[Path]:
    """R-Net and O-Net of a `python -m train detector` run as the "finetuned" detector.

    The detector's thresholds (P-Net, R-Net, O-Net) and how the reference MTCNN would draw
    its boxes (for the classifiers' crops) are stored with its O-Net entry.
    """
    paths = []
    for name in ("rnet", "onet"):
        metrics = json.loads((run / name / "metrics.json").read_text())
        keys = ("started_from", "train_windows", "before", "after")
        extra = {"training": {k: metrics[k] for k in keys if k in metrics}}
        if name == "onet":
            extra["thresholds"] = list(thresholds)
            samples = json.loads((run / "samples.json").read_text())
            extra["reference_box"] = samples["reference_box"]
        paths.append(
            export_network(name, models_dir, run / name / f"{name}.weights.h5", "finetuned", extra)
        )
    return paths


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

    metrics = json.loads((run / "metrics.json").read_text())
    model = student_pnet(tuple(metrics["widths"]))
    weights = run / "pnet.weights.h5"
    model.load_weights(weights)
    training = {k: metrics[k] for k in ("widths", "params", "train_tiles", "val")}
    extra = {"threshold": threshold, "pyramid": metrics["pyramid"], "training": training}
    if large_faces:
        extra["large_faces"] = {"from_px": large_faces[0], "threshold": large_faces[1]}
    return export_network("pnet", models_dir, weights, "finetuned", extra, model, "distilled_from")


def onnx_input_shape(proto) -> list[int | None]:
    """The first input's shape, None for dynamic dimensions."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def export_all(models_dir: Path) -> list[Path]:
    """Export P-Net, R-Net and O-Net; returns the written paths."""
    return [export_network(name, models_dir) for name in NETWORKS]
