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

import contextlib
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from edgefusion.artifact.graph import keep_fp32_nodes
from edgefusion.calibration.data import WindowFeeds
from edgefusion.errors import EdgefusionError

if TYPE_CHECKING:
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorsData

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
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    check_choice(method, METHODS, "--method")
    check_choice(target, TARGETS, "--target")
    calibrate_method = _calibration_method(method)
    excluded = keep_fp32_nodes(model)
    extra = {"CalibStridedMinMax": _stride(len(feeds)), "CalibPercentile": PERCENTILE}
    if target == "tensorrt":
        extra |= {"ActivationSymmetric": True, "WeightSymmetric": True}
        types = {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8}
        ops = list(TENSORRT_OPS)
    else:
        types = {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8}
        ops = CPU_OPS
    keeps_ranges = _writes_calibration_cache()
    with tempfile.TemporaryDirectory(prefix="edgefusion-quant-") as tmp, _quiet():
        src, out, cache = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx", Path(tmp) / "ranges.json"
        # a file, not the ModelProto: ONNX Runtime moves a ModelProto's weights to external files
        # (in place), and 1.18 then looks for them where they are not
        onnx.save_model(model, str(src))
        feeds.rewind()
        with contextlib.redirect_stdout(io.StringIO()):  # its calibrators print progress chatter
            quantize_static(
                src,
                out,
                feeds,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=ops,
                per_channel=True,
                nodes_to_exclude=excluded,
                calibrate_method=calibrate_method,
                extra_options=extra,
                **({"calibration_cache_path": cache} if keeps_ranges else {}),
                **types,
            )
        quantized = onnx.load(str(out))
        with contextlib.redirect_stdout(io.StringIO()):
            ranges = _read_ranges(cache) if keeps_ranges else measure_ranges(src, feeds, method, ops, Path(tmp))
    return Quantized(quantized, ranges, excluded)


def _writes_calibration_cache() -> bool:
    """Does this ONNX Runtime's ``quantize_static`` hand back the ranges it measured (a JSON cache)?

    From 1.27 on; releases for Python 3.10, which JetPack 6 ships, end at 1.23.
    """
    import inspect

    from onnxruntime.quantization import quantize_static

    return "calibration_cache_path" in inspect.signature(quantize_static).parameters


def measure_ranges(
    path: Path, feeds: WindowFeeds, method: str, ops: list[str] | None, tmp: Path
) -> dict[str, tuple[float, float]]:
    """The activation ranges ``quantize_static`` measures on the graph at ``path``, measured again.

    For an ONNX Runtime whose ``quantize_static`` keeps them to itself: the same calibrator, ops,
    options and strides, so the same ranges (a test holds the two to each other).
    """
    from onnxruntime.quantization.calibrate import create_calibrator
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    calibrator = create_calibrator(
        path,
        ops or sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
        augmented_model_path=str(tmp / "ranges-augmented.onnx"),
        calibrate_method=_calibration_method(method),
        extra_options={"percentile": PERCENTILE},
    )
    stride = _stride(len(feeds))
    for start in range(0, len(feeds), stride):
        feeds.set_range(start, start + stride)
        calibrator.collect_data(feeds)
    feeds.rewind()
    return _ranges_of(calibrator.compute_data())


def _calibration_method(method: str) -> CalibrationMethod:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "entropy": CalibrationMethod.Entropy,
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
    }[method]


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

    return _ranges_of(load_tensors_data(cache))


def _ranges_of(tensors: TensorsData) -> dict[str, tuple[float, float]]:
    """tensor -> (min, max) from ONNX Runtime's ``TensorsData`` (ranges held as 0-d or [1] arrays)."""
    ranges: dict[str, tuple[float, float]] = {}
    for name, value in tensors.data.items():
        lo, hi = value.range_value
        ranges[name] = (float(np.min(lo)), float(np.max(hi)))
    return ranges


def ranges_json(ranges: dict[str, tuple[float, float]]) -> str:
    return json.dumps({k: list(v) for k, v in sorted(ranges.items())})
