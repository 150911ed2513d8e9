"""The TensorRT op-support table and the graph checks built on it (pure Python, no TensorRT)."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from edgefusion.errors import EdgefusionError
from edgefusion.export import trt_support
from edgefusion.export.trt_support import (
    NOT_LISTED,
    TRT_VERSIONS,
    UnknownVersionError,
    check_graph,
    forbidden_ops,
    normalize_version,
    op_table,
    support,
)

OPSET = 17
GRAPH_OPS = (
    "Add",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "DequantizeLinear",
    "Div",
    "Equal",
    "Erf",
    "Expand",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "LayerNormalization",
    "Log",
    "MatMul",
    "Max",
    "Mul",
    "Pow",
    "QuantizeLinear",
    "ReduceMax",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Transpose",
    "Unsqueeze",
    "Where",
)
DETECTED_OPS = (
    "STFT",
    "DFT",
    "MelWeightMatrix",
    "HannWindow",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "BatchNormalization",
    "AveragePool",
    "MaxPool",
    "ReduceSum",
    "Tanh",
    "Exp",
)
OUR_OPS = GRAPH_OPS + DETECTED_OPS
ORT_ONLY = ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")


def _model(nodes, inputs, outputs, initializers=(), functions=(), opsets=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    opset_imports = [helper.make_opsetid("", OPSET), *opsets]
    return helper.make_model(graph, opset_imports=opset_imports, functions=list(functions))


def _conv_relu() -> onnx.ModelProto:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)
    return _model(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )


def _stft() -> onnx.ModelProto:
    step = helper.make_tensor("step", TensorProto.INT64, [], [160])
    return _model(
        [helper.make_node("STFT", ["x", "step"], ["spec"], onesided=1), helper.make_node("Abs", ["spec"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32000, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [step],
    )


def test_conv_relu_graph_passes_on_jetpack6():
    model = _conv_relu()
    onnx.checker.check_model(model)
    rows = check_graph(model, "10.3")
    assert [r.op for r in rows] == ["Conv", "Relu"]
    assert all(r.ok and r.version == "10.3" for r in rows)


def test_stft_graph_fails_and_is_named_forbidden():
    model = _stft()
    rows = {r.op: r for r in check_graph(model, "10.3.0")}
    assert rows["STFT"].status == "unsupported" and not rows["STFT"].ok
    assert rows["Abs"].ok
    assert forbidden_ops(model) == ["STFT"]
    # 10.5 added real-valued STFT: the newest table imports it, restricted, yet it stays forbidden
    newest = {r.op: r for r in check_graph(model, "10")}["STFT"]
    assert newest.version == "10.15" and newest.status == "partial" and "initializer" in newest.note
    assert forbidden_ops(_conv_relu()) == []


def test_forbidden_ops_look_inside_subgraphs():
    branch = helper.make_graph(
        [helper.make_node("DFT", ["x"], ["d"])],
        "then",
        [],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
    )
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=other)],
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    assert forbidden_ops(model) == ["DFT"]
    assert {r.op for r in check_graph(model, "8.6")} == {"If", "DFT", "Identity"}


def test_custom_domain_op_fails():
    model = _model(
        [helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        opsets=[helper.make_opsetid("com.microsoft", 1)],
    )
    for version in TRT_VERSIONS:
        (row,) = check_graph(model, version)
        assert row.op == "com.microsoft::FusedConv"
        assert row.status == "unsupported" and not row.ok
        assert "com.microsoft" in row.note


def test_default_domain_spelled_ai_onnx_is_looked_up():
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    (row,) = check_graph(model, "11")
    assert row.op == "Relu" and row.ok


def test_local_functions_are_inlined_from_tensorrt_9_on():
    body = helper.make_function(
        "local",
        "Swish",
        ["x"],
        ["y"],
        [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
        [helper.make_opsetid("", OPSET)],
    )
    model = _model(
        [helper.make_node("Swish", ["x"], ["y"], domain="local")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        functions=[body],
        opsets=[helper.make_opsetid("local", 1)],
    )
    assert [(r.op, r.ok) for r in check_graph(model, "10.3")] == [("Mul", True), ("Sigmoid", True)]
    assert [(r.op, r.ok) for r in check_graph(model, "8.6")] == [("local::Swish", False)]
    rows = {r["op"]: r for r in op_table(model)}
    assert rows["local::Swish"]["8.6"] == "unsupported" and rows["local::Swish"]["10.3"] == "-"
    assert rows["Mul"]["8.6"] == "-" and rows["Mul"]["11"] == "supported"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("10.3", "10.3"),
        ("10.3.0", "10.3"),
        ("10.3.0.30", "10.3"),
        ("10", "10.15"),
        ("10.15.1", "10.15"),
        ("8.6", "8.6"),
        ("8.6.1.6", "8.6"),
        ("8", "8.6"),
        ("11", "11"),
        ("11.4.1", "11"),
        (" TensorRT 10.3 ", "10.3"),
    ],
)
def test_normalize_version(text, key):
    assert normalize_version(text) == key


@pytest.mark.parametrize("text", ["9.2", "10.7", "8.5.3", "7", "12", "", "ten", "10.x"])
def test_unknown_version_is_a_one_line_error_listing_known_ones(text):
    with pytest.raises(UnknownVersionError) as err:
        normalize_version(text)
    message = str(err.value)
    assert isinstance(err.value, EdgefusionError)
    assert "\n" not in message
    for version in TRT_VERSIONS:
        assert version in message


def test_unknown_op_counts_as_unsupported():
    row = support("Frobnicate", "10.3")
    assert row.status == "unknown" and not row.ok and row.note == NOT_LISTED


def test_statuses_and_notes_from_the_docs():
    assert support("Resize", "8.6").status == "partial" and "no cubic" in support("Resize", "8.6").note
    assert "antialiasing" in support("Resize", "10.3").note
    assert support("HannWindow", "10.3").status == "unsupported"
    assert support("HannWindow", "10.15").status == "supported"
    assert support("Slice", "8.6").status == "partial" and support("Slice", "10.3").status == "supported"
    assert support("LayerNormalization", "8.6").ok
    quantize = support("QuantizeLinear", "10.3")
    assert quantize.status == "partial" and "zero_point" in quantize.note
    for op in (*ORT_ONLY, "DFT", "MelWeightMatrix"):
        for version in TRT_VERSIONS:
            assert support(op, version).status == "unsupported", (op, version)
    eleven = support("Conv", "11")
    assert eleven.ok and "10.15" in eleven.note and "assumed" in eleven.note


def test_table_covers_every_op_we_emit_or_detect():
    missing = [op for op in OUR_OPS if op not in trt_support._TABLE]
    assert missing == []
    statuses = {trt_support.SUPPORTED, trt_support.PARTIAL, trt_support.UNSUPPORTED}
    for op, cells in trt_support._TABLE.items():
        assert len(cells) == len(trt_support.DOCUMENTED), op
        for status, note in cells:
            assert status in statuses, op
            assert status != trt_support.PARTIAL or note, f"{op}: a partial entry must say its restriction"


def test_every_op_table_row_has_every_column():
    nodes = [helper.make_node(op, ["x"], [f"y{i}"]) for i, op in enumerate(OUR_OPS)]
    nodes.append(helper.make_node("Attention", ["x"], ["q"], domain="com.microsoft"))
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y0", TensorProto.FLOAT, None)],
        opsets=[helper.make_opsetid("com.microsoft", 1)],
    )
    rows = op_table(model)
    assert len(rows) == len(OUR_OPS) + 1
    columns = {"op", "count", "notes", *TRT_VERSIONS}
    for row in rows:
        assert columns <= set(row), row
        for version in TRT_VERSIONS:
            assert row[version] in ("supported", "partial", "unsupported", "unknown"), row
    by_op = {r["op"]: r for r in rows}
    assert by_op["STFT"]["10.3"] == "unsupported" and by_op["STFT"]["10.15"] == "partial"
    assert by_op["com.microsoft::Attention"]["11"] == "unsupported"
    assert "10.15" in by_op["STFT"]["notes"]
