"""The engine's build record: ``model.engine.json`` beside every engine ``edgefusion build`` writes.

An engine runs only on the TensorRT version and GPU architecture that built it (a
version-compatible one on the same or a newer TensorRT of a supported major). The record says
which; a runner checks it against the machine before it deserializes anything, and every
mismatch is one line naming both sides and the command that rebuilds the engine here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgefusion.atomic import write_atomic
from edgefusion.errors import EdgefusionError, located

CROSS_MAJOR_VC = {8: (9, 10), 10: (11,)}  # version-compatible engines across majors
SIDECAR_FORMAT = 1
SIDECAR_SUFFIX = ".json"
SIDECAR_KEYS = ("tensorrt_version", "gpu", "compute_capability", "precision", "onnx", "build")
UNKNOWN_GPU = "unknown"


class SidecarError(EdgefusionError):
    """A missing or unreadable engine build record."""


class EngineMismatchError(EdgefusionError):
    """An engine built for another TensorRT version or GPU than this machine's."""


def version_tuple(text: str) -> tuple[int, ...]:
    """(major, minor, patch) of "10.3.0.30"; missing parts are 0; () when not a version."""
    parts = str(text).strip().split(".")[:3]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return ()
    return tuple(numbers + [0] * (3 - len(numbers)))



def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as the engine's JSON build record (atomically); returns its path."""
    path = sidecar_path(engine_path)
    return write_atomic(path, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))


def _rebuild(engine_path: str | Path, record: dict[str, Any] | None = None) -> str:
    record = record or {}
    onnx_source = record.get("onnx", {}).get("path", "<onnx>") if isinstance(record.get("onnx"), dict) else "<onnx>"
    precision = record.get("precision", "<precision>")
    return f"`edgefusion build {onnx_source} -o {engine_path} --precision {precision}`"


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """The engine's build record; one-line ``SidecarError`` when it is missing or corrupt."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise SidecarError(located(path, f"no build record beside the engine: rebuild it with {_rebuild(engine_path)}"))
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SidecarError(
            located(path, f"build record is not valid JSON ({e}): rebuild with {_rebuild(engine_path)}")
        ) from None
    if not isinstance(record, dict):
        raise SidecarError(located(path, f"build record is not a JSON object: rebuild with {_rebuild(engine_path)}"))
    missing = [k for k in SIDECAR_KEYS if k not in record]
    if missing:
        raise SidecarError(
            located(path, f"build record lacks {', '.join(missing)}: rebuild with {_rebuild(engine_path, record)}")
        )
    return record


def version_runs(built: str, running: str, version_compatible: bool) -> bool:
    """Whether an engine built by TensorRT ``built`` deserializes on TensorRT ``running``.

    Plain engines need the same major.minor.patch. Version-compatible ones run on the same or a
    newer TensorRT of the same major, and across majors only as ``CROSS_MAJOR_VC`` documents.
    """
    b, r = version_tuple(built), version_tuple(running)
    if not b or not r:
        return str(built).strip() == str(running).strip()
    if not version_compatible:
        return b == r
    return r >= b and (r[0] == b[0] or r[0] in CROSS_MAJOR_VC.get(b[0], ()))


def check_sidecar(
    sidecar: dict[str, Any],
    engine_path: str | Path,
    trt_version: str,
    gpu_name: str,
    compute_capability: str,
) -> None:
    """Raise a one-line ``EngineMismatchError`` unless the engine suits this TensorRT and GPU.

    The GPU matches when the compute capability is the same and, where both names are known,
    the name too. The message names both sides and the rebuild command.
    """
    missing = [k for k in SIDECAR_KEYS if k not in sidecar]
    if missing:
        raise SidecarError(
            located(
                sidecar_path(engine_path),
                f"build record lacks {', '.join(missing)}: rebuild with {_rebuild(engine_path, sidecar)}",
            )
        )
    built = str(sidecar["tensorrt_version"])
    built_gpu, built_cc = str(sidecar["gpu"]), str(sidecar["compute_capability"])
    build = sidecar["build"] if isinstance(sidecar["build"], dict) else {}
    compatible = bool(build.get("version_compatible", False))
    reasons = []
    if not version_runs(built, trt_version, compatible):
        reasons.append(
            "a version-compatible engine needs the same or a newer TensorRT of a major it supports"
            if compatible
            else "an engine runs only on the TensorRT version that built it"
        )
    known = UNKNOWN_GPU not in (built_cc, str(compute_capability))
    if known and built_cc != str(compute_capability):
        reasons.append("an engine runs only on the GPU architecture it was built for")
    elif UNKNOWN_GPU not in (built_gpu, str(gpu_name)) and built_gpu != str(gpu_name):
        reasons.append("an engine is tuned for the GPU model that built it")
    if reasons:
        raise EngineMismatchError(
            f"{engine_path}: built with TensorRT {built} on {built_gpu} (compute {built_cc}), "
            f"this is TensorRT {trt_version} on {gpu_name} (compute {compute_capability}); "
            f"{'; '.join(reasons)}: rebuild it here with {_rebuild(engine_path, sidecar)}"
        )
