"""INT8 by explicit quantization: a Q/DQ ONNX from measured activation ranges.

ONNX Runtime's calibrators measure the ranges (entropy, min-max or percentile), then its QDQ
quantizer writes QuantizeLinear/DequantizeLinear pairs with per-channel INT8 weights. The
front end, the attention mask and everything after the trunk's pooling (projection, fusion,
heads) are excluded (``graph.keep_fp32_nodes``): the encoder, where the work is, is quantized.

Two targets, because the two consumers want different graphs:

- ``tensorrt``: symmetric INT8 (zero point 0) for activations and weights, Q/DQ only on the
  inputs of Conv, Gemm and MatMul, which is the placement TensorRT's explicit-quantization
  builder fuses (8.6, 10 and 11 all build from it).
- ``cpu``: what ONNX Runtime's CPU kernels run fastest: unsigned INT8 activations with a
  zero point, signed per-channel INT8 weights, every op ORT can quantize.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgefusion.calibration.data import WindowFeeds
from edgefusion.errors import EdgefusionError
from edgefusion.export.graph import keep_fp32_nodes

METHODS = ("entropy", "minmax", "percentile")
TARGETS = ("cpu", "tensorrt")
PERCENTILE = 99.999
TENSORRT_OPS = ("Conv", "Gemm", "MatMul")
CPU_OPS = None
# calibrators see the feeds in strides of at most this many, folding each into their ranges or
# histograms before the next, so memory does not grow with --samples
MAX_STRIDE = 16


@dataclass
class Quantized:
    model: onnx.ModelProto
    ranges: dict[str, tuple[float, float]]  # tensor -> (min, max) as calibrated
    excluded: list[str]


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise EdgefusionError(f"unknown {flag} {value!r}; choose one of {', '.join(choices)}")
    return value


def quantize(model: onnx.ModelProto, feeds: WindowFeeds, method: str, target: str) -> Quantized:
    """Calibrate ``model`` (float32, simplified) on ``feeds`` and return its Q/DQ version."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    check_choice(method, METHODS, "--method")
    check_choice(target, TARGETS, "--target")
    calibrate_method = {
        "entropy": CalibrationMethod.Entropy,
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    excluded = keep_fp32_nodes(model)
    extra = {"CalibStridedMinMax": _stride(len(feeds)), "CalibPercentile": PERCENTILE}
    if target == "tensorrt":
        extra |= {"ActivationSymmetric": True, "WeightSymmetric": True}
        types = {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8}
        ops = list(TENSORRT_OPS)
    else:
        types = {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8}
        ops = CPU_OPS
    with tempfile.TemporaryDirectory(prefix="edgefusion-quant-") as tmp, _quiet():
        out, cache = Path(tmp) / "model.int8.onnx", Path(tmp) / "ranges.json"
        feeds.rewind()
        quantize_static(
            copy.deepcopy(model),  # ONNX Runtime moves a ModelProto's weights to external files in place
            out,
            feeds,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=ops,
            per_channel=True,
            nodes_to_exclude=excluded,
            calibrate_method=calibrate_method,
            extra_options=extra,
            calibration_cache_path=cache,
            **types,
        )
        quantized = onnx.load(str(out))
        ranges = _read_ranges(cache)
    return Quantized(quantized, ranges, excluded)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence ONNX Runtime's advice and per-initializer warnings while quantizing (they are not for users)."""
    import onnxruntime as ort

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        root.setLevel(level)
        ort.set_default_logger_severity(2)


def _stride(feeds: int) -> int:
    """The largest stride <= MAX_STRIDE that divides ``feeds`` (ONNX Runtime requires it to divide)."""
    return max(d for d in range(1, min(MAX_STRIDE, feeds) + 1) if feeds % d == 0)


def _read_ranges(cache: Path) -> dict[str, tuple[float, float]]:
    """Tensor ranges from ONNX Runtime's JSON calibration cache."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    ranges: dict[str, tuple[float, float]] = {}
    for name, value in load_tensors_data(cache).data.items():
        lo, hi = value.range_value
        ranges[name] = (float(np.min(lo)), float(np.max(hi)))  # stored as 0-d or [1] arrays
    return ranges


def ranges_json(ranges: dict[str, tuple[float, float]]) -> str:
    return json.dumps({k: list(v) for k, v in sorted(ranges.items())})
