"""``edgefusion triton``: an artifact as a model of a Triton Inference Server model repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgefusion.errors import EdgefusionError, located


@dataclass(frozen=True)
class TritonRepoSettings:
    """Which artifact goes into which repository, and how Triton is to serve it."""

    artifact: Path
    repo: Path
    name: str
    version: int
    max_batch: int | None
    preferred: tuple[int, ...]  # (4, 8); () lets Triton form any size
    max_queue_delay_us: int
    instances: tuple[str, ...]  # ("cpu:2", "gpu:1")


def _instance(text: str) -> tuple[str, int]:
    kind, _, count = text.partition(":")
    try:
        return kind.strip().lower(), int(count or 1)
    except ValueError:
        raise EdgefusionError(f"--instances {text!r}: give KIND:COUNT, e.g. cpu:2 or gpu:1") from None


def run(s: TritonRepoSettings, out: Console) -> Path:
    """Write the model folder; print where it is and how to serve it."""
    from edgefusion.export.triton import TritonSettings, write_model_repository
    from edgefusion.runtime.runner import SUFFIX_BACKEND, open_runner

    if not s.artifact.is_file():
        raise EdgefusionError(located(s.artifact, "no such file"))
    if SUFFIX_BACKEND.get(s.artifact.suffix.lower()) not in ("onnxruntime", "tensorrt"):
        problem = "Triton serves an exported .onnx or an .engine: export the checkpoint first"
        raise EdgefusionError(located(s.artifact, problem))
    meta = open_runner(s.artifact).meta  # reads the metadata (an engine: its build record), loads nothing
    settings = TritonSettings(
        name=s.name,
        version=s.version,
        max_batch=s.max_batch,
        preferred=s.preferred,
        max_queue_delay_us=s.max_queue_delay_us,
        instances=tuple(_instance(i) for i in s.instances) or (("cpu", 1),),
    )
    folder = write_model_repository(s.artifact, meta, s.repo, settings)
    out.print(f"wrote {folder}/config.pbtxt and {folder}/{s.version}/ ({meta.precision}, {s.artifact.name})")
    out.print(f"serve it with: tritonserver --model-repository {s.repo}")
    return folder
