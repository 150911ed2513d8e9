"""Compiling an edgefusion ONNX into a TensorRT engine, with a JSON build record beside it.

Written against TensorRT's Python API so one code path serves 8.6 (JetPack 5 era), 10.x
(JetPack 6 ships 10.3) and 11.x. What differs between them, and where it was read:

- Network creation: 8.6 needs ``1 << EXPLICIT_BATCH``; 10.0 deprecated it ("Ignored because
  networks are always explicit batch", tensorrt.NetworkDefinitionCreationFlag in the Python
  API docs), so it is looked up and set only below 10. ``STRONGLY_TYPED`` (10.x) makes the
  graph's own types the precision: used for Q/DQ graphs and for float16 ONNX files. In 11 it
  is "deprecated ... strongly typed mode is always enabled" and not set.
- Precision: 11.x removed ``BuilderFlag.FP16``/``INT8``/``OBEY_PRECISION_CONSTRAINTS`` and
  ``IBuilderConfig.int8_calibrator`` ("Removed Python APIs and Replacements", TensorRT 10.x to
  11.x migration guide, docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/). So on 11
  an FP16 engine needs the float16 ONNX and an INT8 engine the Q/DQ ONNX. Below 11, a float32
  ONNX built as fp16 uses the weak-typing FP16 flag with the front end and the fusion
  pinned to float32 (docs/architecture.md: Log/Pow overflow in FP16), enforced by
  OBEY_PRECISION_CONSTRAINTS. Strong typing and precision flags are not combined (onnxruntime's
  TensorRT EP sets kSTRONGLY_TYPED only when neither FP16 nor INT8 is on).
- Legacy INT8 (below 11 only): an ``IInt8EntropyCalibrator2`` whose ``read_calibration_cache``
  returns the cache file and ``get_batch`` returns None, so TensorRT takes every range from the
  cache; the parent ``__init__`` must be called explicitly (polygraphy's
  ``backend/trt/calibrator.py``). The cache header must name the running TensorRT
  (``edgefusion.artifact.calibration_cache``).
- Timing cache: ``create_timing_cache(bytes)``, ``set_timing_cache(cache, ignore_mismatch)``,
  ``get_timing_cache().serialize()``; a cache combines only with the exact TensorRT version that
  wrote it (ITimingCache docs), so a stale one is replaced, not trusted.
- Version compatibility (``BuilderFlag.VERSION_COMPATIBLE``, 8.6+): the engine runs on the
  TensorRT that built it or a newer one of the same major; across majors only 8 -> 9/10
  ("engines built with TensorRT 8 work with TensorRT 9 and TensorRT 10 runtimes", 10.x
  "Version Compatibility") and 10 -> 11 (TensorRT 11.1/11.4.1 support matrix). The runtime
  must allow the embedded lean runtime (``engine_host_code_allowed = True``): the record's
  ``build.version_compatible`` tells the runner to.
- DLA: ``default_device_type = DeviceType.DLA``, ``DLA_core``, ``BuilderFlag.GPU_FALLBACK``
  (polygraphy ``backend/trt/config.py``); DLA runs FP16 and INT8 only.

The record ``<engine>.json`` holds everything a runner needs (contract, classes, config) and
what the engine is bound to (TensorRT version, GPU, compute capability); ``check_sidecar``
turns a mismatch into one line naming both sides and the rebuild command.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper

from edgefusion import __version__
from edgefusion.artifact.calibration_cache import cache_header, read_calibration_cache
from edgefusion.artifact.graph import keep_fp32_nodes
from edgefusion.artifact.metadata import PRECISIONS, ArtifactMeta, load_onnx, metadata_of
from edgefusion.artifact.sidecar import SIDECAR_FORMAT, UNKNOWN_GPU, version_tuple, write_sidecar
from edgefusion.atomic import write_atomic
from edgefusion.checksum import file_sha256
from edgefusion.config import MODALITIES_KEY, REFERENCE_KEY
from edgefusion.errors import EdgefusionError, located

MIB = 1 << 20
DEFAULT_WORKSPACE_MB = 1024
DEFAULT_BATCH = (1, 1, 1)  # min, opt, max of a dynamic batch axis when --batch is not given
OLDEST = (8, 6)
EXPLICIT_BATCH_BELOW = 10  # EXPLICIT_BATCH is required below 10.0 and ignored from it
STRONG_TYPING_FROM = 10  # STRONGLY_TYPED networks used from 10.0 (JetPack 6)
STRONG_ONLY_FROM = 11  # 11 removed weak typing: precision flags and calibrators
CALIBRATION_ALGORITHM = "EntropyCalibration2"  # what IInt8EntropyCalibrator2 reads
TRT_MISSING = (
    "TensorRT is not installed: `edgefusion build` needs an NVIDIA GPU with TensorRT "
    "(on Jetson: JetPack's python3-libnvinfer; elsewhere: pip install 'edgefusion[tensorrt]')"
)


class BuildError(EdgefusionError):
    """An engine that cannot be built as asked."""


def _say(console: Any, message: str) -> None:
    if console is not None:
        console.print(message, markup=False, highlight=False)
    else:
        print(message, file=sys.stderr)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# -- what to build ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildPlan:
    """Decisions taken before TensorRT is touched (pure, so they are tested without a GPU).

    ``batch`` is the (min, opt, max) profile of a dynamic batch axis, None for a fixed batch.
    ``flags`` are ``trt.BuilderFlag`` names to set, ``clear_flags`` names to clear.
    """

    precision: str
    strongly_typed: bool
    explicit_batch: bool
    flags: tuple[str, ...]
    clear_flags: tuple[str, ...]
    pin_fp32: bool
    calibrate: bool
    batch: tuple[int, int, int] | None


def plan_build(
    precision: str,
    meta: ArtifactMeta,
    has_qdq: bool,
    trt_version: str,
    onnx_path: str | Path,
    batch: tuple[int, int, int] | None = None,
    calib_cache: Path | None = None,
    version_compatible: bool = False,
    dla_core: int | None = None,
) -> BuildPlan:
    """How to build ``onnx_path`` (metadata ``meta``) at ``precision`` with TensorRT ``trt_version``."""
    if precision not in PRECISIONS:
        raise BuildError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    version = version_tuple(trt_version)
    if not version or version[:2] < OLDEST:
        raise BuildError(f"TensorRT {trt_version} is not supported: edgefusion builds with 8.6, 10.x and 11.x")
    major = version[0]
    fp16_onnx = meta.precision == "fp16"
    if has_qdq and precision != "int8":
        raise BuildError(located(onnx_path, "holds Q/DQ (INT8) nodes: build it with --precision int8"))
    if fp16_onnx and precision != "fp16":
        raise BuildError(
            located(onnx_path, "is a float16 ONNX: build it with --precision fp16, or build the fp32 ONNX")
        )
    if calib_cache is not None and (precision != "int8" or has_qdq):
        raise BuildError(
            located(calib_cache, "a calibration cache is only for --precision int8 from an unquantized ONNX")
        )
    if dla_core is not None and precision == "fp32":
        raise BuildError("DLA runs FP16 and INT8 only: build with --precision fp16 or int8 for --dla-core")

    strongly_typed = major >= STRONG_ONLY_FROM
    flags: list[str] = []
    clear: list[str] = []
    pin = calibrate = False
    if precision == "int8" and has_qdq:
        if major >= STRONG_TYPING_FROM:
            strongly_typed = True
        else:
            flags.append("INT8")
    elif precision == "int8":
        if major >= STRONG_ONLY_FROM:
            raise BuildError(
                located(
                    onnx_path,
                    f"is not quantized and TensorRT {trt_version} removed implicit INT8 calibration: "
                    "build the Q/DQ ONNX that `edgefusion calibrate` writes",
                )
            )
        if calib_cache is None:
            raise BuildError(
                located(
                    onnx_path,
                    "is not quantized: --precision int8 needs the Q/DQ ONNX from `edgefusion calibrate`, "
                    "or this ONNX with --calib-cache",
                )
            )
        flags += ["INT8", "OBEY_PRECISION_CONSTRAINTS"]
        pin = calibrate = True
    elif precision == "fp16":
        if fp16_onnx and major >= STRONG_TYPING_FROM:
            strongly_typed = True
        elif major >= STRONG_ONLY_FROM:
            raise BuildError(
                located(
                    onnx_path,
                    f"is a float32 ONNX and TensorRT {trt_version} removed the FP16 builder flag: "
                    "build --precision fp16 from the float16 ONNX of `edgefusion export --precision fp16`",
                )
            )
        else:
            flags += ["FP16", "OBEY_PRECISION_CONSTRAINTS"]
            pin = True
    else:
        clear.append("TF32")  # TensorRT allows TF32 in FP32 builds by default; fp32 means float32
    if version_compatible:
        flags.append("VERSION_COMPATIBLE")
    if dla_core is not None:
        flags.append("GPU_FALLBACK")

    profile: tuple[int, int, int] | None = None
    if batch is not None:
        if meta.batch is not None:
            raise BuildError(
                located(
                    onnx_path,
                    f"has a fixed batch of {meta.batch}: --batch needs an ONNX exported with a dynamic batch axis",
                )
            )
        lo, opt, hi = (int(b) for b in batch)
        if not 1 <= lo <= opt <= hi:
            raise BuildError(f"--batch wants MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, got {lo},{opt},{hi}")
        profile = (lo, opt, hi)
    elif meta.batch is None:
        profile = DEFAULT_BATCH
    return BuildPlan(
        precision=precision,
        strongly_typed=strongly_typed,
        explicit_batch=major < EXPLICIT_BATCH_BELOW,
        flags=tuple(flags),
        clear_flags=tuple(clear),
        pin_fp32=pin,
        calibrate=calibrate,
        batch=profile,
    )


# -- TensorRT -----------------------------------------------------------------------------


def import_tensorrt() -> Any:
    """``import tensorrt``, or a one-line ``BuildError`` saying how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise BuildError(TRT_MISSING) from None
    except OSError as e:  # the wheel is there but libnvinfer is not loadable
        raise BuildError(f"TensorRT's libraries do not load ({_one_line(e)}): {TRT_MISSING}") from None
    return tensorrt


def gpu_info() -> tuple[str, str]:
    """(name, "major.minor" compute capability) of GPU 0, from pycuda, else torch; "unknown" if neither."""
    try:
        import pycuda.driver as cuda
    except ImportError:
        cuda = None
    if cuda is not None:
        try:
            cuda.init()
            device = cuda.Device(0)
            major, minor = device.compute_capability()
            return str(device.name()), f"{major}.{minor}"
        except cuda.Error:
            pass
    try:
        import torch
    except ImportError:
        return UNKNOWN_GPU, UNKNOWN_GPU
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return torch.cuda.get_device_name(0), f"{major}.{minor}"
    return UNKNOWN_GPU, UNKNOWN_GPU


def _network_flags(trt: Any, plan: BuildPlan, major: int) -> int:
    kinds = trt.NetworkDefinitionCreationFlag
    flags = 0
    if plan.explicit_batch:
        explicit = getattr(kinds, "EXPLICIT_BATCH", None)
        if explicit is not None:
            flags |= 1 << int(explicit)
    if plan.strongly_typed and major < STRONG_ONLY_FROM:  # 11: always on, the flag is ignored
        strong = getattr(kinds, "STRONGLY_TYPED", None)
        if strong is None:
            raise BuildError(f"TensorRT {trt.__version__} has no strongly typed networks; build with TensorRT 10+")
        flags |= 1 << int(strong)
    return flags


def _parse(trt: Any, parser: Any, onnx_path: Path, console: Any) -> None:
    """Parse the file (external weights next to it included); one line per parser error, then raise."""
    if hasattr(parser, "parse_from_file"):
        ok = parser.parse_from_file(str(onnx_path))
    else:
        ok = parser.parse(onnx_path.read_bytes(), str(onnx_path))
    errors = [_one_line(str(parser.get_error(i))) for i in range(parser.num_errors)]
    for error in errors:
        _say(console, f"TensorRT parser: {error}")
    if not ok or errors:
        first = f"; first: {errors[0]}" if errors else ""
        raise BuildError(
            located(onnx_path, f"TensorRT {trt.__version__}'s ONNX parser rejected it ({len(errors)} errors{first})")
        )


def _set_flags(trt: Any, config: Any, plan: BuildPlan) -> None:
    for name in plan.flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise BuildError(f"TensorRT {trt.__version__} has no builder flag {name}")
        config.set_flag(flag)
    for name in plan.clear_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is not None:
            config.clear_flag(flag)


def _node_of(layer_name: str, nodes: set[str]) -> str | None:
    """The ONNX node a parser layer came from: the parser names layers after their node, adding
    "_<n>" when one node makes several (onnx-tensorrt ``ImporterContext::registerLayer``)."""
    if layer_name in nodes:
        return layer_name
    base, _, suffix = layer_name.rpartition("_")
    return base if suffix.isdigit() and base in nodes else None


def _pin_fp32(trt: Any, network: Any, model: onnx.ModelProto) -> int:
    """Pin the float layers of ``keep_fp32_nodes`` (front end, mask, fusion) to float32; returns how many."""
    try:
        keep = set(keep_fp32_nodes(model))
    except ValueError:  # no audio front end (not a full edgefusion graph): only softmaxes to keep
        keep = {n.name for n in model.graph.node if n.op_type == "Softmax" and n.name}
    floats = (trt.float32, trt.float16)
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if _node_of(layer.name, keep) is None:
            continue
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if not outputs or any(t.dtype not in floats for t in outputs):
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def _profile(builder: Any, network: Any, meta: ArtifactMeta, plan: BuildPlan, onnx_path: Path) -> Any:
    """An optimization profile for the dynamic inputs (batch from ``plan``, other axes from the
    contract), or None when every input shape is fixed."""
    contract = {t["name"]: t["shape"] for t in meta.contract if t.get("io") == "in"}
    profile = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = [int(d) for d in tensor.shape]
        if all(d >= 0 for d in dims):
            continue
        low, mid, high = [], [], []
        for axis, size in enumerate(dims):
            if size >= 0:
                triple = (size, size, size)
            elif axis == 0 and plan.batch is not None:
                triple = plan.batch
            else:
                declared = contract.get(tensor.name, [])
                fixed = declared[axis] if axis < len(declared) else None
                if not isinstance(fixed, int):
                    raise BuildError(
                        located(onnx_path, f"input {tensor.name!r} has a dynamic axis {axis} its contract does not fix")
                    )
                triple = (fixed, fixed, fixed)
            low.append(triple[0])
            mid.append(triple[1])
            high.append(triple[2])
        if profile is None:
            profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, low, mid, high)
    return profile


def _calibration_bytes(path: Path, trt_version: str) -> bytes:
    """The cache's bytes, after checking its header names this TensorRT and the entropy calibrator."""
    header, scales = read_calibration_cache(path)
    expected = cache_header(trt_version, CALIBRATION_ALGORITHM)
    if header != expected:
        raise BuildError(
            located(
                path,
                f"header {header} does not match TensorRT {trt_version}, which reads {expected}: "
                f"write it again with `edgefusion calibrate ... --calib-cache {path} --trt-version {trt_version}`",
            )
        )
    if not scales:
        raise BuildError(located(path, "calibration cache holds no tensor scales"))
    return path.read_bytes()


def _cache_calibrator(trt: Any, cache: bytes) -> Any:
    """An entropy calibrator that only replays ``cache``: TensorRT asks it for no data."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # required for TensorRT's trampoline class
            self.cache = cache

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str], *_: Any) -> None:
            return None  # no calibration data: every range comes from the cache

        def read_calibration_cache(self) -> bytes:
            return self.cache

        def write_calibration_cache(self, cache: Any) -> None:
            return None

    return CacheCalibrator()


def _use_dla(trt: Any, builder: Any, config: Any, core: int) -> None:
    cores = int(getattr(builder, "num_DLA_cores", 0))
    if not 0 <= core < cores:
        raise BuildError(f"DLA core {core} asked for, but this device has {cores} DLA cores (Jetson Orin/Xavier have)")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core


def _timing_cache(config: Any, path: Path, console: Any) -> None:
    """Load ``path`` into the builder config (or start an empty cache when it is absent or stale)."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if data and (cache is None or config.set_timing_cache(cache, False) is False):
        _say(console, f"{path}: timing cache from another TensorRT or GPU; starting a new one")
        data = b""
        cache = config.create_timing_cache(data)
    if not data:
        config.set_timing_cache(cache, False)


def _write_atomic(path: Path, data: Any) -> Path:
    """Write bytes (or a buffer such as TensorRT's IHostMemory) so the final name is never half-written."""
    return write_atomic(path, lambda f: f.write(data))


def asymmetric_quantization(model: onnx.ModelProto) -> str | None:
    """The first QuantizeLinear/DequantizeLinear with a uint8 or non-zero zero point, else None.

    TensorRT takes symmetric quantization only ("`y_zero_point` must be 0", "`x_zero_point` must
    be zero" in onnx-tensorrt's operators.md); ONNX Runtime's CPU target writes uint8 activations
    with zero points, which the parser rejects.
    """
    initializers = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        zero = initializers.get(node.input[2])
        if zero is None or zero.data_location == onnx.TensorProto.EXTERNAL:  # zero points are tiny: inline
            continue
        if zero.data_type == onnx.TensorProto.UINT8 or numpy_helper.to_array(zero).any():
            return node.name or node.output[0]
    return None


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    timing_cache: Path | None = None,
    version_compatible: bool = False,
    batch: tuple[int, int, int] | None = None,
    calib_cache: Path | None = None,
    dla_core: int | None = None,
    console: Any = None,
) -> Path:
    """Build ``onnx_path`` into a serialized TensorRT engine at ``engine_path`` plus its JSON record.

    ``precision`` is fp32, fp16 or int8; ``workspace_mb`` the builder's workspace pool in MiB;
    ``batch`` the (min, opt, max) batch of a dynamic-batch ONNX (default 1, 1, 1);
    ``timing_cache`` a file loaded before and saved after the build; ``calib_cache`` a TensorRT
    calibration cache for INT8 from an unquantized ONNX (below TensorRT 11); ``dla_core`` the
    DLA core to build for, with GPU fallback. Returns ``engine_path``.
    """
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    timing_cache = Path(timing_cache) if timing_cache is not None else None
    calib_cache = Path(calib_cache) if calib_cache is not None else None
    if precision not in PRECISIONS:
        raise BuildError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if workspace_mb < 1:
        raise BuildError(f"the builder workspace must be at least 1 MiB, got {workspace_mb}")
    if dla_core is not None and dla_core < 0:
        raise BuildError(f"DLA core must be 0 or more, got {dla_core}")
    trt = import_tensorrt()
    version = str(trt.__version__)
    model = load_onnx(onnx_path, load_weights=False)
    meta = metadata_of(model, onnx_path)
    has_qdq = any(node.op_type == "QuantizeLinear" for node in model.graph.node)
    asymmetric = asymmetric_quantization(model) if has_qdq else None
    if asymmetric is not None:
        raise BuildError(
            located(
                onnx_path,
                f"node {asymmetric} quantizes with a zero point (ONNX Runtime's CPU target); TensorRT takes "
                "symmetric INT8 only: quantize with `edgefusion calibrate --target tensorrt`",
            )
        )
    plan = plan_build(
        precision,
        meta,
        has_qdq,
        version,
        onnx_path,
        batch=batch,
        calib_cache=calib_cache,
        version_compatible=version_compatible,
        dla_core=dla_core,
    )
    major = version_tuple(version)[0]
    cache_bytes = _calibration_bytes(calib_cache, version) if plan.calibrate and calib_cache is not None else None

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, plan, major))
    parser = trt.OnnxParser(network, logger)
    native_instancenorm = getattr(getattr(trt, "OnnxParserFlag", None), "NATIVE_INSTANCENORM", None)
    if version_compatible and native_instancenorm is not None:
        parser.set_flag(native_instancenorm)  # a TensorRT layer, not a plugin the engine would need at runtime
    _parse(trt, parser, onnx_path, console)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb * MIB)
    _set_flags(trt, config, plan)
    pinned = _pin_fp32(trt, network, model) if plan.pin_fp32 else 0
    profile = _profile(builder, network, meta, plan, onnx_path)
    if profile is not None:
        config.add_optimization_profile(profile)
    calibrator = None  # kept referenced until the build is done: TensorRT holds only a pointer
    if cache_bytes is not None:
        calibrator = _cache_calibrator(trt, cache_bytes)
        config.int8_calibrator = calibrator
        if profile is not None and hasattr(config, "set_calibration_profile"):
            config.set_calibration_profile(profile)
    if dla_core is not None:
        _use_dla(trt, builder, config, dla_core)
    if timing_cache is not None:
        _timing_cache(config, timing_cache, console)

    if console is not None:
        _say(console, f"building a {precision} engine with TensorRT {version} (minutes on a Jetson)")
    serialized = builder.build_serialized_network(network, config)
    del calibrator
    if serialized is None:
        raise BuildError(
            located(onnx_path, f"TensorRT {version} could not build an engine from it (see TensorRT's messages above)")
        )
    _write_atomic(engine_path, serialized)
    if timing_cache is not None:
        _write_atomic(timing_cache, config.get_timing_cache().serialize())

    gpu, capability = gpu_info()
    write_sidecar(
        engine_path,
        {
            "format": SIDECAR_FORMAT,
            "engine": engine_path.name,
            "engine_sha256": file_sha256(engine_path),
            "tensorrt_version": version,
            "gpu": gpu,
            "compute_capability": capability,
            "precision": precision,
            "contract": meta.contract,
            "batch": list(plan.batch) if plan.batch is not None else [meta.batch] * 3,
            "onnx": {"path": str(onnx_path), "sha256": file_sha256(onnx_path), "precision": meta.precision},
            "build": {
                "workspace_mb": workspace_mb,
                "strongly_typed": plan.strongly_typed,
                "flags": list(plan.flags),
                "cleared_flags": list(plan.clear_flags),
                "fp32_pinned_layers": pinned,
                "version_compatible": version_compatible,
                "dla_core": dla_core,
                "timing_cache": str(timing_cache) if timing_cache is not None else None,
                "calibration_cache": str(calib_cache) if calib_cache is not None else None,
            },
            "edgefusion_version": __version__,
            "classes": meta.classes,
            "config": meta.config.to_dict(),
            "calibration": meta.extra.get("calibration"),
            REFERENCE_KEY: meta.extra.get(REFERENCE_KEY),
            MODALITIES_KEY: meta.extra.get(MODALITIES_KEY),  # the runner masks what the model never learned
        },
    )
    return engine_path


