"""A float16 graph for GPUs, with the front end and the fusion kept in float32.

Log and Pow overflow in float16, and the softmax of the fusion sums many small terms, so the
front end and everything after the trunk's pooling (projection, fusion, heads; well under 1%
of the work) stay float32 (``graph.keep_fp32_nodes``). Inputs and outputs keep their dtypes
(float32 PCM and flags, uint8 crops, float32 logits), so the contract does not change.

onnxconverter-common does the conversion, with these repairs:
- an initializer read by float32 and float16 nodes alike gets a copy for each kind first;
- it leaves a ``Cast``'s target type at float32 while retyping its output, so Casts are kept
  in the block list;
- it rounds the weights of blocked nodes to float16 and casts them back (the DFT basis
  then carries float16 error, which the log turns into ~30 dB at quiet frames), so those
  weights are restored from the float32 graph afterwards;
- it casts every blocked node's output to float16 and back to float32 for the next blocked
  node, so the power spectrum would pass through float16 between front-end nodes; such
  float32 -> float16 -> float32 round trips are removed.
"""

from __future__ import annotations

import copy
import warnings

import onnx
from onnx import TensorProto, helper

from edgefusion.artifact.graph import keep_fp32_nodes


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxconverter_common import float16

    model = copy.deepcopy(model)
    keep = keep_fp32_nodes(model) + [n.name for n in model.graph.node if n.op_type == "Cast"]
    unshare_weights(model, set(keep))
    original = {t.name: t for t in model.graph.initializer}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the float32 number ... will be truncated": expected, reported as parity
        half = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=keep)
    restore_fp32_weights(half, original)
    drop_cast_round_trips(half)
    return half


def unshare_weights(model: onnx.ModelProto, keep: set[str]) -> int:
    """Give the float32 nodes (``keep``) their own copy of any initializer that float16 nodes read too.

    Simplification merges equal initializers (the zero biases of an untrained model, say), and
    onnxconverter-common then leaves a shared one float32 for both kinds of reader. Returns how
    many initializers were copied.
    """
    graph = model.graph
    readers: dict[str, set[bool]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.name in keep)
    shared = [t for t in graph.initializer if readers.get(t.name) == {True, False}]
    for tensor in shared:
        duplicate = TensorProto()
        duplicate.CopyFrom(tensor)
        duplicate.name = f"{tensor.name}/fp32"
        graph.initializer.append(duplicate)
        for node in graph.node:
            if node.name in keep:
                node.input[:] = [duplicate.name if i == tensor.name else i for i in node.input]
    return len(shared)


def restore_fp32_weights(model: onnx.ModelProto, original: dict[str, TensorProto]) -> int:
    """Replace each ``Cast(float16 weight -> float32)`` by the float32 weight it was made from.

    Returns how many were restored; float16 copies no other node uses are dropped.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    restored = []
    for node in graph.node:
        if node.op_type != "Cast" or helper.get_attribute_value(node.attribute[0]) != TensorProto.FLOAT:
            continue
        source = node.input[0]
        if source in original and source in inits and inits[source].data_type == TensorProto.FLOAT16:
            weight = TensorProto()
            weight.CopyFrom(original[source])
            weight.name = node.output[0]
            graph.initializer.append(weight)
            restored.append(node)
    for node in restored:
        graph.node.remove(node)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
    return len(restored)


def _cast_to(node: onnx.NodeProto) -> int:
    return int(helper.get_attribute_value(node.attribute[0]))


def drop_cast_round_trips(model: onnx.ModelProto) -> int:
    """Feed ``Cast(to=float32)(Cast(to=float16)(x))``'s consumers ``x`` itself, when ``x`` is float32.

    Returns how many round trips were removed; Casts left without consumers are dropped.
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    typed = onnx.shape_inference.infer_shapes(model)
    dtype = {v.name: v.type.tensor_type.elem_type for v in [*typed.graph.value_info, *typed.graph.input]}
    rename: dict[str, str] = {}
    for node in graph.node:
        if node.op_type != "Cast" or _cast_to(node) != TensorProto.FLOAT:
            continue
        inner = producer.get(node.input[0])
        if inner is None or inner.op_type != "Cast" or _cast_to(inner) != TensorProto.FLOAT16:
            continue
        if dtype.get(inner.input[0]) == TensorProto.FLOAT:
            rename[node.output[0]] = inner.input[0]
    outputs = {o.name for o in graph.output}
    rename = {k: v for k, v in rename.items() if k not in outputs}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    used = {i for n in graph.node for i in n.input} | outputs
    while True:
        dead = [n for n in graph.node if n.op_type == "Cast" and not used.intersection(n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
        used = {i for n in graph.node for i in n.input} | outputs
    return len(rename)
