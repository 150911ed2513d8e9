"""TensorRT's INT8 calibration cache, written from measured activation ranges.

TensorRT's legacy (implicit) INT8 path reads per-tensor scales from a calibration cache before
it would run any calibration batch; ``edgefusion build --calib-cache`` hands it one written here
from the ranges ``edgefusion calibrate`` measured. The format is plain ASCII:

```
TRT-100300-EntropyCalibration2
audio: 3c010204
/encoder/stem/Conv_output_0: 3d0b7086
```

- The header is ``TRT-<version>-<algorithm>``. ``<version>`` is TensorRT's own version integer:
  ``major * 1000 + minor * 100 + patch`` up to 8.x (``kNV_TENSORRT_VERSION_IMPL`` in
  NVIDIA/TensorRT ``include/NvInferRuntimeCommon.h`` of 8.x: 8.6.1 -> 8601) and
  ``major * 10000 + minor * 100 + patch`` from 10.0 (``NV_TENSORRT_VERSION_INT`` in
  ``include/NvInferRuntimeBase.h``: 10.3.0 -> 100300). Caches seen in public material agree:
  ``TRT-7103-`` (onnxruntime's TensorRT EP comment on TensorRT 7.1.3), ``TRT-7202-`` (an
  NVDLA walkthrough), ``TRT-100300-EntropyCalibration2`` (DeepStream's ``cal_trt.bin`` read on
  a Jetson), and a Jetson build log reporting that TensorRT 10.x rejected a ``TRT-8600-`` header
  and tried to recalibrate. So the header must carry the version of the TensorRT that reads it.
  Which of the 9.x encodings applies was not established; 9.x is refused.
- Each further line is ``<tensor name>: <hex>``, the 8 hex digits being the big-endian IEEE-754
  float32 bits of the scale ``amax / 127`` (symmetric INT8: 127 is the largest code). NVIDIA's
  TAO deploy engine builder (``calibration_cache_from_dict``) writes the same thing from QAT
  scales (``tensor_scale / 127.0``, the float's bits in hex). Scale 1/127 is ``3c010204``.
  Names may contain ": " themselves (``input_1:0``), so a line is split at its last ": ".

TensorRT 11 removed implicit calibration (IBuilderConfig.int8_calibrator, NVIDIA's "Removed
Python APIs" page for 10.x -> 11.x), so no cache is written for it: build 11 from the Q/DQ ONNX.
"""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

from edgefusion.atomic import write_atomic
from edgefusion.errors import EdgefusionError, located

INT8_MAX = 127  # symmetric INT8: scale = amax / 127
ALGORITHMS = ("EntropyCalibration2", "MinMaxCalibration")  # headers seen in real caches
DEFAULT_ALGORITHM = "EntropyCalibration2"
DEFAULT_TRT_VERSION = "10.3"  # JetPack 6
IMPLICIT_REMOVED_IN = 11
HEADER_RE = re.compile(r"^TRT-(\d+)-([A-Za-z0-9]+)$")
HEX_RE = re.compile(r"^[0-9a-fA-F]{1,8}$")
SEPARATOR = ": "


class CalibrationCacheError(EdgefusionError):
    """A calibration cache that cannot be written or read as TensorRT's format."""


def tensorrt_version_code(version: str) -> int:
    """TensorRT's version integer as its cache header carries it: "8.6.1" -> 8601, "10.3" -> 100300.

    A missing patch counts as 0. 9.x (encoding not established) and 11+ (no implicit
    calibration) raise ``CalibrationCacheError``.
    """
    parts = str(version).strip().split(".")
    try:
        numbers = [int(p) for p in parts[:3]]
    except ValueError:
        raise CalibrationCacheError(f"not a TensorRT version: {version!r} (expected e.g. 10.3.0)") from None
    if numbers[0] >= IMPLICIT_REMOVED_IN:
        raise CalibrationCacheError(
            f"TensorRT {version} removed implicit INT8 calibration, so it reads no calibration cache: "
            "build it from the Q/DQ ONNX that `edgefusion calibrate` writes"
        )
    if len(numbers) < 2:
        raise CalibrationCacheError(f"not a TensorRT version: {version!r} (expected major.minor, e.g. 10.3)")
    major, minor, patch = [*numbers, 0][:3]
    if major == 9:
        raise CalibrationCacheError(f"TensorRT {version}: the cache header version for 9.x is not established")
    if major <= 8:
        if minor > 9 or patch > 99:
            raise CalibrationCacheError(f"not a TensorRT {major}.x version: {version!r}")
        return major * 1000 + minor * 100 + patch
    if minor > 99 or patch > 99:
        raise CalibrationCacheError(f"not a TensorRT {major}.x version: {version!r}")
    return major * 10000 + minor * 100 + patch


def cache_header(trt_version: str = DEFAULT_TRT_VERSION, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """The first line TensorRT ``trt_version`` expects for ``algorithm``, e.g. TRT-100300-EntropyCalibration2."""
    if algorithm not in ALGORITHMS:
        raise CalibrationCacheError(f"unknown calibration algorithm {algorithm!r}: choose {', '.join(ALGORITHMS)}")
    return f"TRT-{tensorrt_version_code(trt_version)}-{algorithm}"


def scale_hex(scale: float) -> str:
    """The 8 lowercase hex digits of ``scale`` as a big-endian IEEE-754 float32."""
    return struct.pack(">f", scale).hex()


def hex_scale(text: str) -> float:
    """The float32 whose big-endian bits ``text`` spells (1 to 8 hex digits, zero-padded on the left)."""
    return struct.unpack(">f", bytes.fromhex(text.zfill(8)))[0]


def _scale_of(name: str, amax: float, path: Path) -> float:
    if not isinstance(name, str) or not name or name != name.strip() or "\n" in name or "\r" in name:
        raise CalibrationCacheError(located(path, f"tensor name {name!r} cannot be written to a calibration cache"))
    try:
        value = float(amax)
    except (TypeError, ValueError):
        raise CalibrationCacheError(located(path, f"range of {name!r} is not a number: {amax!r}")) from None
    if not math.isfinite(value) or value <= 0:
        raise CalibrationCacheError(
            located(path, f"range of {name!r} is {value!r}: amax must be a finite number above 0")
        )
    try:
        scale = struct.unpack(">f", struct.pack(">f", value / INT8_MAX))[0]  # rounded to float32
    except OverflowError:
        scale = math.inf
    if not math.isfinite(scale) or scale == 0:
        raise CalibrationCacheError(located(path, f"range of {name!r} ({value!r}) does not fit a float32 scale"))
    return scale


def write_calibration_cache(
    ranges: dict[str, float],
    path: str | Path,
    trt_version: str = DEFAULT_TRT_VERSION,
    algorithm: str = DEFAULT_ALGORITHM,
) -> Path:
    """Write TensorRT's calibration cache for ``ranges`` (tensor name -> amax, symmetric) to ``path``.

    Each scale is ``amax / 127`` as float32. Tensors are written in ``ranges``' order. The file is
    written atomically; zero, negative, NaN or infinite ranges are refused.
    """
    path = Path(path)
    header = cache_header(trt_version, algorithm)
    if not ranges:
        raise CalibrationCacheError(located(path, "no activation ranges to write"))
    lines = [header, *(f"{name}{SEPARATOR}{scale_hex(_scale_of(name, amax, path))}" for name, amax in ranges.items())]
    text = ("\n".join(lines) + "\n").encode("ascii", errors="strict")
    return write_atomic(path, lambda f: f.write(text))


def read_calibration_cache(path: str | Path) -> tuple[str, dict[str, float]]:
    """The header line and the scales (tensor name -> amax / 127, float32) of a calibration cache."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationCacheError(located(path, "no such calibration cache"))
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise CalibrationCacheError(located(path, "not a TensorRT calibration cache (not ASCII text)")) from None
    lines = text.splitlines()
    if not lines or not HEADER_RE.match(lines[0].strip()):
        first = lines[0][:40] if lines else ""
        raise CalibrationCacheError(
            located(path, f"not a TensorRT calibration cache: first line {first!r} is not TRT-<version>-<algorithm>")
        )
    scales: dict[str, float] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name, sep, digits = line.rstrip().rpartition(SEPARATOR)
        if not sep or not name or not HEX_RE.match(digits):
            raise CalibrationCacheError(located(path, f"line {number} is not '<tensor>: <hex float32>': {line[:60]!r}"))
        if name in scales:
            raise CalibrationCacheError(located(path, f"line {number} repeats tensor {name!r}"))
        scales[name] = hex_scale(digits)
    return lines[0].strip(), scales
