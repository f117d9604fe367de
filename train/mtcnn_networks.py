"""MTCNN's P-Net, R-Net and O-Net as Keras models: the `mtcnn` package's networks and weights.

Fine-tuning (`train.detector`) trains them; `export.mtcnn` converts them to ONNX.
"""

from __future__ import annotations

from pathlib import Path

# name -> (network class, weights file, Keras input shape (NHWC, None = dynamic), outputs).
# The ONNX files take NCHW (inputs_as_nchw), the layout ONNX Runtime and TensorRT use inside.
NETWORKS = {
    "pnet": ("PNet", "pnet.lz4", (1, None, None, 3), ("box_reg", "face_prob")),
    "rnet": ("RNet", "rnet.lz4", (None, 24, 24, 3), ("box_reg", "face_prob")),
    "onet": ("ONet", "onet.lz4", (None, 48, 48, 3), ("box_reg", "landmarks", "face_prob")),
}


def keras_network(name: str, weights_file: Path | None = None):
    """The `mtcnn` package's Keras P-Net, R-Net or O-Net with its shipped weights, or with
    the weights of a fine-tuned run."""
    import importlib

    from mtcnn.utils.tensorflow import load_weights

    class_name, weights, _, _ = NETWORKS[name]
    model = getattr(importlib.import_module(f"mtcnn.network.{name}"), class_name)()
    model.build()
    if weights_file is None:
        model.set_weights(load_weights(weights))
    else:
        model.load_weights(weights_file)
    return model
