"""The shipped model that suits this machine, for ``edgefusion run`` with no artifact named.

- without a TensorRT that loads: the CPU INT8 ONNX (``int8-cpu``), run by ONNX Runtime;
- with one: a TensorRT engine built once from the TensorRT-placed INT8 graph (``int8-tensorrt``)
  into ``$XDG_CACHE_HOME/edgefusion/engines`` (default ``~/.cache``), and reused while its build
  record matches this TensorRT, this GPU and the shipped graph's SHA-256; otherwise rebuilt.

Every shipped file is checked against the package's manifest before it is used (``edgefusion.zoo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefusion.artifact.sidecar import EngineMismatchError, SidecarError, check_sidecar, read_sidecar
from edgefusion.data.store import default_cache_dir
from edgefusion.doctor.stack import check_tensorrt
from edgefusion.errors import require_writable
from edgefusion.zoo import entries, shipped, verify

ENGINE_FOLDER = "engines"


def engine_cache_dir() -> Path:
    """Where engines built from the shipped model are kept: ``$XDG_CACHE_HOME/edgefusion/engines``,
    beside the clip cache."""
    return default_cache_dir() / ENGINE_FOLDER


def has_tensorrt() -> bool:
    """Whether TensorRT imports and loads here (what ``edgefusion doctor`` checks)."""
    return check_tensorrt()[0].ok


def shipped_artifact(console: Any, tensorrt: bool | None = None) -> tuple[Path, str]:
    """``(path, why)``: the shipped artifact to run here and a line saying why it was chosen.

    ``tensorrt``: whether to take the TensorRT path (default: ``has_tensorrt()``).
    """
    if tensorrt is None:
        tensorrt = has_tensorrt()
    if not tensorrt:
        path = shipped("int8-cpu")
        return path, f"{path.name}, the shipped CPU INT8 model (no TensorRT here; see `edgefusion doctor`)"
    return shipped_engine(console)


def shipped_engine(console: Any) -> tuple[Path, str]:
    """The cached engine of the shipped TensorRT graph, built first when missing or stale."""
    from edgefusion.export.tensorrt_build import build_engine, gpu_info, import_tensorrt

    item = entries()["int8-tensorrt"]
    onnx_path = verify(item)
    trt = import_tensorrt()
    gpu, capability = gpu_info()
    engine = engine_cache_dir() / f"{onnx_path.stem}.{item.sha256[:12]}.trt{trt.__version__}.sm{capability}.engine"
    stale = _why_stale(engine, item.sha256, trt.__version__, gpu, capability)
    if stale is None:
        return engine, f"{engine.name}, built earlier from the shipped TensorRT INT8 graph ({engine.parent})"
    engine.parent.mkdir(parents=True, exist_ok=True)
    require_writable(engine)
    if console is not None:
        console.print(f"building a TensorRT engine from the shipped model, once ({stale}); this takes minutes")
    build_engine(onnx_path, engine, "int8", console=console)
    return engine, f"{engine.name}, just built from the shipped TensorRT INT8 graph ({engine.parent})"


def _why_stale(engine: Path, onnx_sha256: str, trt_version: str, gpu: str, capability: str) -> str | None:
    """None when ``engine`` can be run here as it is; else why it must be built."""
    if not engine.is_file():
        return "no engine for this GPU and TensorRT yet"
    try:
        record = read_sidecar(engine)
        check_sidecar(record, engine, trt_version, gpu, capability)
    except (SidecarError, EngineMismatchError) as e:
        return f"the cached one does not suit this machine: {e}"
    source = record.get("onnx", {})
    if not isinstance(source, dict) or source.get("sha256") != onnx_sha256:
        return "the cached one was built from another shipped graph"
    return None
