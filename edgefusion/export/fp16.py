"""A float16 graph for GPUs, with the front end and the fusion softmax kept in float32.

Log and Pow overflow in float16, and the softmax of the fusion sums many small terms, so
those nodes stay float32 (``graph.keep_fp32_nodes``). Inputs and outputs keep their dtypes
(float32 PCM and flags, uint8 crops, float32 logits), so the contract does not change.
onnxconverter-common's converter does the work; it leaves a ``Cast``'s target type at
float32 while retyping its output, so Casts are kept in the block list too.
"""

from __future__ import annotations

import warnings

import onnx

from edgefusion.export.graph import keep_fp32_nodes


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxconverter_common import float16

    keep = keep_fp32_nodes(model) + [n.name for n in model.graph.node if n.op_type == "Cast"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the float32 number ... will be truncated": expected, reported as parity
        return float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=keep)
