"""edge_runtime: faces, masks and gender on ONNX Runtime, with no TensorFlow.

    from edge_runtime import Pipeline
    result = Pipeline()("photo.jpg")  # a Result: faces, speed, to_json(), plot(), save()

Names are loaded lazily, so `train/` can import `edge_runtime.crop` without pulling in
onnxruntime, and nothing here imports TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

__all__ = [
    "MTCNN",
    "Detections",
    "Face",
    "ImageLoadError",
    "Labels",
    "Options",
    "Pipeline",
    "Result",
    "crop_face",
    "crop_faces",
    "load_image",
]

_WHERE = {
    "Pipeline": "edge_runtime.pipeline",
    "Result": "edge_runtime.types",
    "Face": "edge_runtime.types",
    "Labels": "edge_runtime.types",
    "Options": "edge_runtime.options",
    "MTCNN": "edge_runtime.mtcnn",
    "Detections": "edge_runtime.mtcnn",
    "ImageLoadError": "edge_runtime.image_io",
    "load_image": "edge_runtime.image_io",
    "crop_face": "edge_runtime.crop",
    "crop_faces": "edge_runtime.crop",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
