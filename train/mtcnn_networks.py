"""MTCNN's P-Net, R-Net and O-Net as Keras models: the `mtcnn` package's networks and weights.

Fine-tuning (`train.detector`) trains them; `export.mtcnn` converts them to ONNX.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# name -> (network class, weights file, Keras input shape (NHWC, None = dynamic), outputs).
# The ONNX files take NCHW (inputs_as_nchw), the layout ONNX Runtime and TensorRT use inside.
NETWORKS = {
    "pnet": ("PNet", "pnet.lz4", (1, None, None, 3), ("box_reg", "face_prob")),
    "rnet": ("RNet", "rnet.lz4", (None, 24, 24, 3), ("box_reg", "face_prob")),
    "onet": ("ONet", "onet.lz4", (None, 48, 48, 3), ("box_reg", "landmarks", "face_prob")),
}


def keras_network(name: str, weights_file: Path | None = None):
    """The `mtcnn` package's Keras P-Net, R-Net or O-Net with its shipped weights, or with
    the weights of a fine-tuned run (.weights.h5) or of an exported network (.onnx)."""
    import importlib

    from mtcnn.utils.tensorflow import load_weights

    class_name, weights, _, _ = NETWORKS[name]
    model = getattr(importlib.import_module(f"mtcnn.network.{name}"), class_name)()
    model.build()
    if weights_file is None:
        model.set_weights(load_weights(weights))
    elif Path(weights_file).suffix == ".onnx":
        model.set_weights(onnx_weights(model, Path(weights_file)))
    else:
        model.load_weights(weights_file)
    return model


def onnx_weights(model, path: Path) -> list[np.ndarray]:
    """The weights of an ONNX network written by `export.mtcnn`, in the order and layout of
    the Keras `model` (conv kernels OIHW -> HWIO, PReLU slopes (1, C, 1, 1) -> (1, 1, C)),
    matched by layer name; so a shipped detector can be fine-tuned further."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    found = {}
    for tensor in graph.initializer:
        match = re.search(r"/((?:conv|prelu|fc)[\d-]+)_\d+/(\w+)", tensor.name)
        if not match:
            continue
        layer, op = match.groups()
        role = (
            "alpha"
            if layer.startswith("prelu")
            else "bias"
            if op in ("Squeeze", "BiasAdd")
            else "kernel"
        )
        found[f"{layer}/{role}"] = numpy_helper.to_array(tensor)
    weights = []
    for variable in model.weights:
        key = "/".join(variable.path.split("/")[-2:])
        if key not in found:
            raise ValueError(f"{path.name}: no weights for {variable.path}")
        value = found[key]
        if value.ndim == 4 and key.endswith("kernel"):
            value = value.transpose(2, 3, 1, 0)
        weights.append(value.reshape(tuple(variable.shape)))
    return weights
