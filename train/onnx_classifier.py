"""A shipped classifier's ONNX file back into the Keras model it was exported from.

The shipped models are the checkpoints: `fit --init-from models/TASK.onnx` continues from
them. tf2onnx folds each BatchNormalization into the convolution before it, and the int8
and float16 files store the weights quantized or halved, so the weights are read back by
structure, not by name: int8 weights are dequantized, float16 ones upcast, any scale and
shift left after a convolution is folded into it, and the convolutions are matched in
order to the Keras model's.

Each folded BatchNormalization is rebuilt so that inference computes exactly what the
file does. Given real images, its moving mean and variance become the statistics of the
convolution's output on them, with scale and shift to match: training then normalizes by
batch statistics close to those, as the original network did, instead of jumping to
another function on its first step. Without images it is an identity (scale 1, mean 0,
variance 1 - epsilon), exact for inference and evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.inputs import InputError

CONV_KINDS = ("Conv2D", "DepthwiseConv2D")
STATISTICS_CROPS = 256  # real crops that set the rebuilt batch norms' statistics


class OnnxGraphError(InputError):
    """The ONNX file is not a classifier of `train.model.make_model`'s structure."""


class _Graph:
    """Constant folding and consumer lookup over one ONNX graph, just what reading weights needs."""

    def __init__(self, path: Path) -> None:
        from onnx import numpy_helper

        self.graph = _load(path, external_data=True).graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, name: str) -> np.ndarray | None:
        """The float32 value of a tensor made only of initializers (DequantizeLinear and
        Cast of one included), or None where it depends on the input."""
        if name in self.inits:
            return self.inits[name].astype(np.float32)
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Cast":
            value = self.constant(node.input[0])
            return None if value is None else value.astype(np.float32)
        if node.op_type == "DequantizeLinear" and node.input[0] in self.inits:
            q = self.inits[node.input[0]].astype(np.float32)
            scale = self.inits[node.input[1]].astype(np.float32)
            zero = (
                self.inits[node.input[2]].astype(np.float32)
                if len(node.input) > 2 and node.input[2]
                else np.zeros_like(scale)
            )
            if scale.ndim == 1 and q.ndim > 1:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            return (q - zero) * scale
        return None

    def single_consumer(self, name: str):
        """The one node that reads `name`, looking through an activation Quantize/Dequantize
        pair; None where several nodes read it."""
        users = self.consumers.get(name, [])
        if len(users) != 1:
            return None
        user = users[0]
        if user.op_type == "QuantizeLinear":
            after = self.consumers.get(user.output[0], [])
            if len(after) == 1 and after[0].op_type == "DequantizeLinear":
                return self.single_consumer(after[0].output[0])
            return None
        return user

    def other_constant(self, node) -> np.ndarray | None:
        """The constant operand of a two-input node whose other operand is computed."""
        values = [self.constant(name) for name in node.input]
        constants = [v for v in values if v is not None]
        return constants[0] if len(values) == 2 and len(constants) == 1 else None

    def convolutions(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """(weight OIHW, bias, group) of every Conv in graph order, with the per-channel
        Mul and Add that follow it folded in."""
        out = []
        for node in self.graph.node:
            if node.op_type != "Conv":
                continue
            weight = self.constant(node.input[1])
            if weight is None:
                raise OnnxGraphError(f"{node.name}: weights are not constant")
            channels = weight.shape[0]
            bias = (
                self.constant(node.input[2])
                if len(node.input) > 2 and node.input[2]
                else np.zeros(channels, np.float32)
            )
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            tensor = node.output[0]
            while (user := self.single_consumer(tensor)) is not None and user.op_type in (
                "Mul",
                "Add",
            ):
                value = self.other_constant(user)
                if value is None or value.size not in (1, channels):
                    break
                value = np.broadcast_to(value.reshape(-1), (channels,))
                if user.op_type == "Mul":
                    weight = weight * value.reshape(-1, 1, 1, 1)
                    bias = bias * value
                else:
                    bias = bias + value
                tensor = user.output[0]
            out.append((weight, bias.astype(np.float32), group))
        return out

    def dense_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(kernel (in, out), bias) of every Gemm, or MatMul followed by an Add, in order."""
        out = []
        for node in self.graph.node:
            if node.op_type == "Gemm":
                kernel = self.constant(node.input[1])
                if any(a.name == "transB" and a.i for a in node.attribute):
                    kernel = kernel.T
                bias = self.constant(node.input[2]) if len(node.input) > 2 else None
            elif node.op_type == "MatMul":
                kernel = self.constant(node.input[1])
                user = self.single_consumer(node.output[0])
                bias = None
                if user is not None and user.op_type == "Add":
                    bias = self.other_constant(user)
            else:
                continue
            if kernel is None:
                raise OnnxGraphError(f"{node.name}: weights are not constant")
            if bias is None:
                bias = np.zeros(kernel.shape[1], np.float32)
            out.append((kernel, bias.reshape(-1)))
        return out


def _load(path: Path, external_data: bool = False):
    """The ONNX proto in `path`; a file that is not ONNX at all is an OnnxGraphError."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path), load_external_data=external_data)
    except DecodeError as error:
        raise OnnxGraphError(f"{path}: not an ONNX file ({error})") from None
    if not proto.graph.input:
        raise OnnxGraphError(f"{path}: not an ONNX file (no graph inputs)")
    return proto


def onnx_input_size(path: Path) -> int:
    """The square input size in pixels of an exported classifier (NHWC), read from the
    graph's input alone."""
    dims = _load(path).graph.input[0].type.tensor_type
    return int(dims.shape.dim[1].dim_value)


def keras_from_onnx(path: Path, images: np.ndarray | None = None, input_size: int | None = None):
    """The Keras classifier (`train.model.make_model`) holding the weights of an exported
    ONNX classifier (float32, int8 QDQ or float16-stored), at the file's input size or at
    `input_size` (the weights do not depend on it); `images` as in `load_onnx_weights`."""
    from train.model import make_model

    model = make_model(input_size or onnx_input_size(path))
    load_onnx_weights(model, path, images)
    return model


def load_onnx_weights(model, path: Path, images: np.ndarray | None = None) -> None:
    """Set `model`'s weights from an exported classifier. `images` (N, size, size, 3, 0-255,
    real crops at the model's input size) set the batch normalizations' statistics."""
    graph = _Graph(Path(path))
    try:
        batch_norms = _set_folded_weights(model, graph)
    except OnnxGraphError as exc:
        raise OnnxGraphError(f"{path}: not a classifier of this architecture ({exc})") from None
    if images is not None and len(images):
        _set_batch_norm_statistics(model, batch_norms, images)


def _set_folded_weights(model, graph: _Graph) -> list[tuple]:
    """Copy the graph's folded weights into `model`, checking shapes; batch normalizations
    become identities with the bias as shift. Returns (convolution, batch norm) pairs."""
    backbone = next(layer for layer in model.layers if hasattr(layer, "layers"))
    layers = list(backbone.layers)
    convs = [i for i, layer in enumerate(layers) if type(layer).__name__ in CONV_KINDS]
    found = graph.convolutions()
    if len(found) != len(convs):
        raise OnnxGraphError(f"{len(found)} convolutions in the file, {len(convs)} in Keras")
    pairs = []
    for position, (weight, bias, group) in zip(convs, found, strict=True):
        layer = layers[position]
        depthwise = type(layer).__name__ == "DepthwiseConv2D"
        if depthwise != (group > 1):
            raise OnnxGraphError(f"{layer.name}: depthwise in one model and not the other")
        kernel = weight.transpose(2, 3, 0, 1) if depthwise else weight.transpose(2, 3, 1, 0)
        if tuple(kernel.shape) != tuple(layer.kernel.shape):
            raise OnnxGraphError(f"{layer.name}: {kernel.shape} against {layer.kernel.shape}")
        bn = _batch_norm_after(layers, position)
        if layer.use_bias:
            layer.set_weights([kernel, bias])
        else:
            layer.set_weights([kernel])
        if bn is not None:
            eps = np.float32(bn.epsilon)
            ones = np.ones_like(bias)
            bn.set_weights([ones, bias, np.zeros_like(bias), ones - eps])
            pairs.append((layer, bn))
        elif not layer.use_bias and np.any(bias):
            raise OnnxGraphError(f"{layer.name}: a bias in the file but nowhere to put it")
    bns = sum(type(layer).__name__ == "BatchNormalization" for layer in layers)
    if len(pairs) != bns:
        raise OnnxGraphError(f"{len(pairs)} of {bns} batch normalizations paired")
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    found_dense = graph.dense_layers()
    if len(found_dense) != len(dense):
        raise OnnxGraphError(f"{len(found_dense)} dense layers in the file, {len(dense)} in Keras")
    for layer, (kernel, bias) in zip(dense, found_dense, strict=True):
        if tuple(kernel.shape) != tuple(layer.kernel.shape):
            raise OnnxGraphError(f"{layer.name}: {kernel.shape} against {layer.kernel.shape}")
        layer.set_weights([kernel, bias])
    return pairs


def _set_batch_norm_statistics(model, pairs: list[tuple], images: np.ndarray) -> None:
    """Give each identity batch norm the mean and variance of its convolution's output on
    `images`: y -> (y - mean) / sqrt(var + eps) * sqrt(var + eps) + (shift + mean) is still
    y + shift at inference, and close to it in training mode on similar batches."""
    import keras

    backbone = next(layer for layer in model.layers if hasattr(layer, "layers"))
    probe = keras.Model(backbone.input, [conv.output for conv, _ in pairs])
    sums = [np.zeros(bn.gamma.shape[0]) for _, bn in pairs]
    squares = [np.zeros_like(total) for total in sums]
    counts = [0] * len(pairs)
    for start in range(0, len(images), 32):
        outputs = probe(np.asarray(images[start : start + 32], np.float32), training=False)
        for k, y in enumerate(outputs):
            y = np.asarray(y, np.float64).reshape(-1, y.shape[-1])
            sums[k] += y.sum(0)
            squares[k] += (y * y).sum(0)
            counts[k] += y.shape[0]
    for k, (_, bn) in enumerate(pairs):
        mean = sums[k] / counts[k]
        var = np.maximum(squares[k] / counts[k] - mean**2, 0.0)
        shift = bn.get_weights()[1]
        scale = np.sqrt(var + bn.epsilon)
        bn.set_weights([v.astype(np.float32) for v in (scale, shift + mean, mean, var)])


def _batch_norm_after(layers: list, position: int):
    """The BatchNormalization that follows the convolution at `position`, before the next
    convolution, or None (the squeeze-and-excitation convolutions have none)."""
    for layer in layers[position + 1 :]:
        kind = type(layer).__name__
        if kind in CONV_KINDS:
            return None
        if kind == "BatchNormalization":
            return layer
    return None
