"""Convert the P-Net, R-Net and O-Net weights shipped by the `mtcnn` package to ONNX.

The `mtcnn` networks are subclassed Keras 3 models. tf2onnx's `from_keras` fails on
Keras 3 models (it reads `_get_save_spec` / `output_names`, which Keras 3 removed:
onnx/tensorflow-onnx#2348), so each network is wrapped in a `tf.function` with an
explicit input signature and converted with `from_function`.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from edge_runtime.manifest import write_entry
from export.onnx_graph import fuse_prelu

OPSET = 17

# name -> (network class, weights file, Keras input shape (NHWC, None = dynamic), outputs).
# The ONNX files take NCHW (inputs_as_nchw), the layout ONNX Runtime and TensorRT use inside.
NETWORKS = {
    "pnet": ("PNet", "pnet.lz4", (1, None, None, 3), ("box_reg", "face_prob")),
    "rnet": ("RNet", "rnet.lz4", (None, 24, 24, 3), ("box_reg", "face_prob")),
    "onet": ("ONet", "onet.lz4", (None, 48, 48, 3), ("box_reg", "landmarks", "face_prob")),
}
PREPROCESSING = "RGB float32, channels first (NCHW), (pixel - 127.5) / 128"


def export_network(name: str, models_dir: Path) -> Path:
    """Convert one MTCNN network to models_dir/mtcnn/<name>.onnx and record it in the manifest."""
    import importlib

    import onnx
    import tensorflow as tf
    import tf2onnx
    from mtcnn.utils.tensorflow import load_weights

    class_name, weights, shape, output_names = NETWORKS[name]
    model = getattr(importlib.import_module(f"mtcnn.network.{name}"), class_name)()
    model.build()
    model.set_weights(load_weights(weights))

    signature = [tf.TensorSpec(shape, tf.float32, name="input")]

    @tf.function(input_signature=signature)
    def forward(x):
        return {out: y for out, y in zip(output_names, model(x), strict=True)}

    out = Path(models_dir) / "mtcnn" / f"{name}.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    proto, _ = tf2onnx.convert.from_function(
        forward, input_signature=signature, opset=OPSET, inputs_as_nchw=["input:0"]
    )
    fuse_prelu(proto)
    onnx.checker.check_model(proto)
    out.write_bytes(proto.SerializeToString())
    write_entry(
        models_dir,
        f"mtcnn_{name}",
        {
            "file": f"mtcnn/{name}.onnx",
            "kind": "mtcnn_stage",
            "input": {"name": "input", "shape": onnx_input_shape(proto), "dtype": "float32"},
            "outputs": list(output_names),
            "preprocessing": PREPROCESSING,
            "source": {"package": "mtcnn", "version": version("mtcnn"), "weights": weights},
            "converter": {
                "tf2onnx": tf2onnx.__version__,
                "tensorflow": tf.__version__,
                "opset": OPSET,
            },
        },
    )
    return out


def onnx_input_shape(proto) -> list[int | None]:
    """The first input's shape, None for dynamic dimensions."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def export_all(models_dir: Path) -> list[Path]:
    """Export P-Net, R-Net and O-Net; returns the written paths."""
    return [export_network(name, models_dir) for name in NETWORKS]
