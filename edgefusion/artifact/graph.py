"""Reading an exported graph: which nodes are the signal front end, which ops it holds.

The front end (waveform -> standardised log-mel image), the attention mask and everything after
the shared trunk's pooling (projection, fusion, heads) stay in float32 and unquantized. They
are found structurally rather than by name: the front end is every node the spectrogram image
depends on, traced back to the ``audio`` input (the image is the standardisation's ``Div``, whose
divisor comes from a ``Sqrt``, or the ``Resize`` after it in a model that resizes its
spectrogram); the trunk's poolings are the ``ReduceMean`` nodes outside it.
"""

from __future__ import annotations

from collections import Counter

import onnx
from onnx import helper

AUDIO_INPUT = "audio"
PRESENT_INPUT = "present"
KEEP_FP32_OPS = ("Softmax",)


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def frontend_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the ``audio`` input and the spectrogram image, in graph order.

    The spectrogram image is the output of the first ``Resize`` whose inputs trace back to
    ``audio`` (a model that resizes its spectrogram to the faces' size) or else of the first ``Div``
    on the audio path with a ``Sqrt`` among its inputs (the standardisation that ends the front end
    of a model taking its spectrogram at native resolution). Nodes without a name are given one
    (``ensure_node_names``) so they can be listed.
    """
    graph = model.graph
    ensure_node_names(model)
    producers = _producers(graph)

    def ancestors(node: onnx.NodeProto) -> set[str]:
        seen: set[str] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if n.name in seen:
                continue
            seen.add(n.name)
            stack.extend(producers[i] for i in n.input if i in producers)
        return seen

    def is_standardisation(node: onnx.NodeProto) -> bool:
        return node.op_type == "Div" and any(i in producers and producers[i].op_type == "Sqrt" for i in node.input)

    audio_path = _downstream(graph, {AUDIO_INPUT})
    candidates = [n for n in graph.node if n.name in audio_path]
    image = next((n for n in candidates if n.op_type == "Resize"), None)
    image = image or next((n for n in candidates if is_standardisation(n)), None)
    if image is None:
        raise ValueError(
            "no spectrogram image (Resize or standardising Div) fed by the audio input: is this an edgefusion graph?"
        )
    names = ancestors(image)
    return [n.name for n in graph.node if n.name in names and n.op_type != "Constant"]


def _downstream(graph: onnx.GraphProto, sources: set[str]) -> set[str]:
    """Names of the nodes that (transitively) consume any tensor in ``sources``."""
    tensors, names = set(sources), set()
    for node in graph.node:  # ONNX graphs are topologically sorted
        if tensors.intersection(node.input):
            names.add(node.name)
            tensors.update(node.output)
    return names


def presence_nodes(model: onnx.ModelProto) -> list[str]:
    """The fusion's attention mask: nodes computed from the ``present`` flags alone, and those applying it.

    Its additive bias (0 or -1e4) must stay exact for a masked modality to have no effect
    (and a constant -1e4 defeats histogram calibrators).
    """
    ensure_node_names(model)
    graph = model.graph
    flags = _downstream(graph, {PRESENT_INPUT})
    data = _downstream(graph, {i.name for i in graph.input if i.name != PRESENT_INPUT})
    mask = [n for n in graph.node if n.name in flags - data]
    mask_out = {o for n in mask for o in n.output}
    applying = [n for n in graph.node if n.name not in flags - data and mask_out.intersection(n.input)]
    names = {n.name for n in mask + applying}
    return [n.name for n in graph.node if n.name in names]


def fusion_nodes(model: onnx.ModelProto) -> list[str]:
    """Every node after the shared trunk's global poolings: the projection, the fusion and the heads.

    They hold well under 1% of the multiply-adds, and the fused decision is the part of the
    network most sensitive to rounding: on the demo's synthetic corpus, INT8 fusion lost one
    class's recall while each modality's own head kept its accuracy.
    """
    front = set(frontend_nodes(model))
    # one pooling per trunk call: audio and video each (or both at once when their sizes match);
    # later ReduceMeans (the video head's average over frames) lie downstream of them anyway
    pools = [n for n in model.graph.node if n.op_type == "ReduceMean" and n.name not in front]
    if not pools:
        raise ValueError("no ReduceMean pooling after the front end: is this an edgefusion graph?")
    names = _downstream(model.graph, {o for n in pools for o in n.output}) | {n.name for n in pools}
    return [n.name for n in model.graph.node if n.name in names]


def keep_fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """The front end, the attention mask, the fusion and heads, and every softmax: nodes kept float32."""
    names = frontend_nodes(model) + presence_nodes(model) + fusion_nodes(model)
    names += [n.name for n in model.graph.node if n.op_type in KEEP_FP32_OPS]
    return list(dict.fromkeys(names))


def ensure_node_names(model: onnx.ModelProto) -> None:
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Move ``Constant`` nodes holding a tensor into the initializers; returns how many moved.

    Calibrators treat a Constant node's output as an activation to measure (a constant -1e4
    breaks histogram calibration), and quantizers and TensorRT see weights more plainly.
    """
    graph = model.graph
    moved = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved.append(node)
    for node in moved:
        graph.node.remove(node)
    return len(moved)


def outputs_as_leaves(model: onnx.ModelProto) -> int:
    """Give each graph output that nodes also read (``audio_embedding``, which the speaker shift is
    added to) its own ``Identity``, so that no tensor is both an output and an intermediate.

    onnxconverter-common's float16 pass, keeping I/O float32, casts such a tensor to float16 for
    the graph output and leaves the float32 nodes reading it with the wrong type. Returns how many.
    """
    graph = model.graph
    read = {i for n in graph.node for i in n.input}
    shared = [o.name for o in graph.output if o.name in read]
    for name in shared:
        inner = f"{name}/inner"
        for node in graph.node:
            node.output[:] = [inner if o == name else o for o in node.output]
            node.input[:] = [inner if i == name else i for i in node.input]
        graph.node.append(helper.make_node("Identity", [inner], [name], name=f"{name}/output"))
    return len(shared)


def op_counts(model: onnx.ModelProto) -> Counter[str]:
    """Op types of the main graph, with the domain prefixed for non-default domains."""
    return Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}" for n in model.graph.node)


def is_quantized(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv") for n in model.graph.node)
