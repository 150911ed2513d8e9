"""``edgefusion build``: a TensorRT engine and its build record from an ONNX."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs


@dataclass(frozen=True)
class BuildSettings:
    """What ``edgefusion build`` is asked to compile."""

    onnx_path: Path
    out_path: Path
    precision: str
    workspace: int
    timing_cache: Path | None
    version_compatible: bool
    batch: str | None
    calib_cache: Path | None
    dla_core: int | None


def run(s: BuildSettings, err: Console, out: Console) -> None:
    """Compile ``s.onnx_path`` to an engine for this GPU and write its build record beside it."""
    onnx_path, out_path, precision, workspace = s.onnx_path, s.out_path, s.precision, s.workspace
    timing_cache, version_compatible, batch = s.timing_cache, s.version_compatible, s.batch
    calib_cache, dla_core = s.calib_cache, s.dla_core
    from edgefusion.artifact.metadata import read_metadata
    from edgefusion.artifact.sidecar import sidecar_path
    from edgefusion.export.tensorrt_build import build_engine

    if precision not in ("fp32", "fp16", "int8"):
        raise EdgefusionError(f"unknown --precision {precision!r}; choose one of fp32, fp16, int8")
    read_metadata(onnx_path)  # one-line error for a file that is not an edgefusion ONNX
    inputs = [("ONNX", onnx_path)] + ([("--calib-cache", calib_cache)] if calib_cache is not None else [])
    check_outputs([("--out", out_path), ("the engine's sidecar", sidecar_path(out_path))], inputs=inputs)
    profile = None
    if batch is not None:
        try:
            low, opt, high = (int(x) for x in batch.split(","))
        except ValueError:
            raise EdgefusionError(f"--batch {batch!r}: give min,opt,max, e.g. 1,4,8") from None
        if not 1 <= low <= opt <= high:
            raise EdgefusionError(f"--batch {batch!r}: need 1 <= min <= opt <= max")
        profile = (low, opt, high)
    engine = build_engine(
        onnx_path,
        out_path,
        precision,
        workspace_mb=workspace,
        timing_cache=timing_cache,
        version_compatible=version_compatible,
        batch=profile,
        calib_cache=calib_cache,
        dla_core=dla_core,
        console=err,
    )
    sidecar = sidecar_path(engine)
    info = json.loads(sidecar.read_text())
    out.print(
        f"wrote {engine} ({engine.stat().st_size / 1e6:.2f} MB, {precision}, TensorRT {info.get('tensorrt_version')}"
        f" for {info.get('gpu')}) and {sidecar}"
    )
