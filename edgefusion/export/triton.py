"""A Triton Inference Server model repository from an edgefusion artifact.

Triton serves a folder laid out as ``REPO/NAME/config.pbtxt`` beside ``REPO/NAME/VERSION/model.*``
(its model repository documentation). ``write_model_repository`` writes one model of it:

    REPO/NAME/config.pbtxt        the ModelConfig, in protobuf text format
    REPO/NAME/1/model.onnx        an ONNX artifact, run by Triton's ``onnxruntime`` backend
    REPO/NAME/1/model.plan        or a TensorRT engine, run by the ``tensorrt`` backend (plan)

The config's inputs and outputs come from the artifact's contract (names, Triton data types and
dims, the batch axis as ``max_batch_size``); a dynamic-batch artifact gets dynamic batching
(preferred batch sizes, the longest a request waits for others) and a fixed-batch one gets none
(``max_batch_size: 0``, its dims in full). ``instance_group`` says how many copies run and where
(CPU or GPU). The artifact's edgefusion metadata rides along as ``parameters`` (string values,
keys ``edgefusion.*``), so a client can check the served model against its own artifact.

The config is written as text by this module (no protobuf needed to write it); the tests parse
every one with Triton's own ``ModelConfig`` protobuf from ``tritonclient``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgefusion.artifact.contract import DEFAULT_QUEUE_DELAY_US, TRITON_DATATYPES
from edgefusion.artifact.metadata import ArtifactMeta
from edgefusion.errors import EdgefusionError, located, require_writable

# contract dtype -> Triton's DataType (model_config.proto)
TRITON_TYPES = {dtype: f"TYPE_{name}" for dtype, name in TRITON_DATATYPES.items()}
# artifact suffix -> (Triton platform, file name in the version folder)
PLATFORMS = {".onnx": ("onnxruntime_onnx", "model.onnx"), ".engine": ("tensorrt_plan", "model.plan")}
PLATFORMS[".plan"] = PLATFORMS[".engine"]
KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}


class TritonRepoError(EdgefusionError):
    """An artifact or a setting that makes no Triton model."""


@dataclass(frozen=True)
class TritonSettings:
    """How the model is served: its name and version, the batching, the instances."""

    name: str = "edgefusion"
    version: int = 1
    max_batch: int | None = None  # None: the artifact's own largest batch (dynamic ONNX: 16)
    preferred: tuple[int, ...] = ()  # preferred batch sizes; () lets Triton form any size
    max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    instances: tuple[tuple[str, int], ...] = (("cpu", 1),)  # (kind, count) groups


DYNAMIC_ONNX_MAX_BATCH = 16


def _batch_of(meta: ArtifactMeta) -> tuple[bool, int]:
    """(dynamic, largest batch) of an artifact: an ONNX's first axis, or an engine's profile."""
    first = meta.contract[0]["shape"][0]
    engine_batch = (meta.extra.get("tensorrt") or {}).get("batch")
    if isinstance(engine_batch, list) and len(engine_batch) == 3:
        return engine_batch[2] > 1, int(engine_batch[2])
    if isinstance(first, int):
        return False, first
    return True, DYNAMIC_ONNX_MAX_BATCH


def _check(path: Path, meta: ArtifactMeta, s: TritonSettings) -> int:
    """The max_batch_size to write (0: no batching), after refusing what cannot be served."""
    if not s.name or any(c in s.name for c in "/\\ ") or s.name.startswith("."):
        raise TritonRepoError(f"--name {s.name!r}: a Triton model name is one folder name, without / or spaces")
    if s.version < 1:
        raise TritonRepoError(f"--version {s.version}: Triton versions are positive integers")
    for kind, count in s.instances:
        if kind not in KINDS or count < 1:
            raise TritonRepoError(f"--instances {kind}:{count}: give cpu:N or gpu:N with N >= 1")
    unknown = [t["dtype"] for t in meta.contract if t["dtype"] not in TRITON_TYPES]
    if unknown:
        raise TritonRepoError(located(path, f"contract dtype {unknown[0]} has no Triton type here"))
    dynamic, largest = _batch_of(meta)
    if not dynamic:
        if s.max_batch not in (None, 0) or s.preferred:
            problem = f"has a fixed batch of {largest}: Triton cannot batch it; export it with --dynamic-batch"
            raise TritonRepoError(located(path, problem))
        return 0
    max_batch = largest if s.max_batch is None else s.max_batch
    if not 1 <= max_batch <= largest:
        raise TritonRepoError(located(path, f"--max-batch {max_batch}: this artifact takes batches of 1 to {largest}"))
    bad = [b for b in s.preferred if not 1 <= b <= max_batch]
    if bad:
        raise TritonRepoError(f"--preferred {bad[0]}: preferred batch sizes lie in 1..{max_batch} (--max-batch)")
    if s.max_queue_delay_us < 0:
        raise TritonRepoError(f"--max-queue-delay {s.max_queue_delay_us}: a delay is 0 or more microseconds")
    return max_batch


def _quote(text: str) -> str:
    """A protobuf text-format string literal."""
    return json.dumps(text, ensure_ascii=False)  # JSON escapes are C escapes; other text stays UTF-8


def config_text(meta: ArtifactMeta, platform: str, max_batch: int, s: TritonSettings) -> str:
    """``config.pbtxt`` for ``meta``'s contract: protobuf text format of Triton's ModelConfig."""
    lines = [f"name: {_quote(s.name)}", f"platform: {_quote(platform)}", f"max_batch_size: {max_batch}"]
    for io, key in (("input", "in"), ("output", "out")):
        entries = []
        for t in (t for t in meta.contract if t["io"] == key):
            # batching: Triton adds the batch axis itself; without, the full shape (a named axis is 1)
            dims = t["shape"][1:] if max_batch > 0 else [1 if isinstance(d, str) else d for d in t["shape"]]
            entries.append(
                f"  {{ name: {_quote(t['name'])} data_type: {TRITON_TYPES[t['dtype']]} "
                f"dims: [ {', '.join(str(int(d)) for d in dims)} ] }}"
            )
        lines.append(f"{io} [\n" + ",\n".join(entries) + "\n]")
    if max_batch > 0:
        preferred = f"preferred_batch_size: [ {', '.join(map(str, s.preferred))} ] " if s.preferred else ""
        lines.append(f"dynamic_batching {{ {preferred}max_queue_delay_microseconds: {s.max_queue_delay_us} }}")
    groups = [f"  {{ count: {count} kind: {KINDS[kind]} }}" for kind, count in s.instances]
    lines.append("instance_group [\n" + ",\n".join(groups) + "\n]")
    for key, value in meta.to_props().items():  # what the ONNX's metadata_props hold
        lines.append(f"parameters {{ key: {_quote(key)} value {{ string_value: {_quote(value)} }} }}")
    return "\n".join(lines) + "\n"


def write_model_repository(path: Path, meta: ArtifactMeta, repo: Path, s: TritonSettings) -> Path:
    """Write ``path`` (an ONNX or an engine with ``meta``) as model ``s.name`` version ``s.version``
    of the Triton repository ``repo``; returns the model's folder. An existing version is refused."""
    suffix = path.suffix.lower()
    if suffix not in PLATFORMS:
        raise TritonRepoError(located(path, "Triton serves an .onnx or an .engine/.plan here, not this"))
    max_batch = _check(path, meta, s)
    platform, filename = PLATFORMS[suffix]
    folder = repo / s.name
    version = folder / str(s.version)
    if version.exists():
        raise TritonRepoError(located(version, "exists: give another --version, or remove it first"))
    if folder.exists() and not folder.is_dir():
        raise TritonRepoError(located(folder, "is a file, not a model folder"))
    repo.mkdir(parents=True, exist_ok=True)
    folder.mkdir(exist_ok=True)
    require_writable(folder / "config.pbtxt")
    version.mkdir()
    shutil.copyfile(path, version / filename)
    config = folder / "config.pbtxt"
    config.write_text(config_text(meta, platform, max_batch, s), encoding="utf-8")
    return folder
