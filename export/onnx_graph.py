"""Small ONNX graph rewrites that tf2onnx leaves undone."""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper


def fuse_prelu(model: onnx.ModelProto) -> int:
    """Replace Keras 3's PReLU decomposition with one ONNX PRelu node; returns how many.

    Keras 3 computes PReLU as relu(x) + (-alpha) * relu(-x), which tf2onnx exports as
    Relu, Neg, Relu, Mul and Add: four passes over the feature map where PRelu needs one.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    inits = {init.name: init for init in graph.initializer}
    fused = 0
    for add in [n for n in graph.node if n.op_type == "Add"]:
        parents = [producer.get(name) for name in add.input]
        relu = next((p for p in parents if p is not None and p.op_type == "Relu"), None)
        mul = next((p for p in parents if p is not None and p.op_type == "Mul"), None)
        if relu is None or mul is None:
            continue
        slope_name = next((i for i in mul.input if i in inits), None)
        neg_relu = next((producer.get(i) for i in mul.input if i not in inits), None)
        if slope_name is None or neg_relu is None or neg_relu.op_type != "Relu":
            continue
        neg = producer.get(neg_relu.input[0])
        if neg is None or neg.op_type != "Neg" or neg.input[0] != relu.input[0]:
            continue
        slope = -numpy_helper.to_array(inits[slope_name])
        slope_init = numpy_helper.from_array(slope, name=f"{add.name}_prelu_slope")
        graph.initializer.append(slope_init)
        prelu = helper.make_node(
            "PRelu", [relu.input[0], slope_init.name], list(add.output), name=f"{add.name}_prelu"
        )
        position = list(graph.node).index(add)
        graph.node.insert(position, prelu)
        for dead in (add, mul, neg_relu, neg, relu):
            graph.node.remove(dead)
        fused += 1
    used = {i for node in graph.node for i in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return fused


def store_weights_as_float16(model: onnx.ModelProto, min_elements: int = 1024) -> int:
    """Store large float32 initializers as float16 with a Cast back to float32; returns how many.

    The file is about half the size; ONNX Runtime folds the Casts when it loads the model,
    so inference still runs in float32 and only the weights' rounding changes the output.
    """
    import numpy as np

    graph = model.graph
    converted = 0
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(init)
        if array.size < min_elements:
            continue
        half = numpy_helper.from_array(array.astype(np.float16), name=f"{init.name}_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        graph.node.insert(
            0,
            helper.make_node(
                "Cast",
                [half.name],
                [init.name],
                to=onnx.TensorProto.FLOAT,
                name=f"{init.name}_cast",
            ),
        )
        converted += 1
    return converted
