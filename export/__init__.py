"""Export trained networks to ONNX for edge_runtime (needs the `train` extra)."""
