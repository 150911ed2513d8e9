"""One interface for every backend: ``with open_runner(path) as r: r.infer(feed)``.

A runner is made cheaply, then activated by ``with`` (sessions, engines and buffers are
created on entry and freed on exit), after Polygraphy's runners. ``infer`` takes and gives
numpy arrays named by the contract (docs/architecture.md), for any batch size: a runner whose
artifact has a fixed batch runs a larger batch in chunks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edgefusion.artifact.contract import EMBEDDING_OUTPUT, INPUTS, SHIFT_INPUT
from edgefusion.artifact.metadata import ArtifactMeta
from edgefusion.config import MODALITIES, MODALITIES_KEY
from edgefusion.errors import EdgefusionError, located

BACKENDS = ("torch", "onnxruntime", "tensorrt")
SPLIT_STAGES = ("h2d", "compute", "d2h")  # a GPU runner's ``last_split``: copies in, compute, copies out
SUFFIX_BACKEND = {".pt": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}


class RunnerError(EdgefusionError):
    """A runner that cannot open its artifact or was fed the wrong tensors."""


class ServerUnavailable(RunnerError):
    """A remote runner's server did not answer this request (gone, restarting, overloaded): the
    streaming pipeline loses the hop and goes on; elsewhere it is an error like any other."""


class Runner(ABC):
    """Base class: lifecycle, feed checking and batching; subclasses implement ``_activate``, ``_run``."""

    backend: str = ""
    # a feed may leave out "video" when no window has a face (present[:, 1] all 0): a runner that
    # can skip the video path says so here; the others are fed zero frames, marked absent
    skips_absent_video: bool = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.meta: ArtifactMeta = self._read_meta()
        self.active = False
        # A GPU runner timing its stages: ms of host-to-device copy, compute and device-to-host
        # copy of the last ``infer`` (CUDA events); None where there is no such split (CPU).
        self.last_split: dict[str, float] | None = None

    # lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self.active:
            self._activate()
            self.active = True

    def deactivate(self) -> None:
        if self.active:
            self._deactivate()
            self.active = False

    # inference -----------------------------------------------------------------------------
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"audio", "video", "present"[, "audio_shift"]}`` -> ``{"logits", "audio_logits",
        "video_logits"}`` float32 [B, C], plus ``"audio_embedding"`` [B, D] where the artifact
        gives it (``self.adaptable``). ``video`` may be left out when ``present`` marks it absent in
        every row (audio-only clips); ``video_logits`` then mean nothing."""
        if not self.active:
            raise RuntimeError(f"{type(self).__name__} used outside `with`: call activate() first")
        feed = self._checked(feed)
        total = len(feed["audio"])
        step = self._rows_per_run() or total
        if step == total:
            return self._run(feed)
        chunks = [self._run({k: v[i : i + step] for k, v in feed.items()}) for i in range(0, total, step)]
        return {k: np.concatenate([c[k] for c in chunks]) for k in self.outputs}

    @property
    def description(self) -> str:
        return f"{self.backend} ({self.meta.precision})"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of the outputs this artifact gives, in contract order."""
        return tuple(t["name"] for t in self.meta.contract if t["io"] == "out")

    @property
    def trained(self) -> tuple[str, ...]:
        """The modalities the model was trained on (its metadata's ``modalities``; both when it
        predates the record). ``infer`` marks the others absent, whatever the feed says."""
        value = self.meta.extra.get(MODALITIES_KEY)
        if not isinstance(value, list) or not value:
            return MODALITIES
        return tuple(m for m in MODALITIES if m in value)

    @property
    def masked(self) -> tuple[str, ...]:
        """The modalities ``infer`` masks: those the model never learned."""
        return tuple(m for m in MODALITIES if m not in self.trained)

    @property
    def adaptable(self) -> bool:
        """Whether the artifact takes a speaker shift and gives the audio embedding."""
        names = {t["name"] for t in self.meta.contract}
        return SHIFT_INPUT in names and EMBEDDING_OUTPUT in names

    def _checked(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [k for k in INPUTS if k not in feed and k != "video"]
        if missing:
            raise RunnerError(f"feed lacks {', '.join(missing)}; the model takes {', '.join(INPUTS)}")
        if self.masked:  # an untrained path must not move the decision: mark it absent (a copy)
            present = np.array(feed["present"], dtype=np.float32, copy=True)
            present[:, [MODALITIES.index(m) for m in self.masked]] = 0.0
            feed = {**feed, "present": present}
        no_video = "video" not in feed
        if no_video and np.asarray(feed["present"])[:, 1].any():
            raise RunnerError("feed marks video present in some rows but gives no video")
        if SHIFT_INPUT in feed and not self.adaptable:
            raise RunnerError(
                located(self.path, "takes no audio_shift (exported before speaker adaptation): export it again")
            )
        out: dict[str, np.ndarray] = {}
        batch = None
        for spec in self.meta.contract:
            if spec["io"] != "in":
                continue
            name, dtype = spec["name"], np.dtype(spec["dtype"])
            if name == SHIFT_INPUT and name not in feed:  # unadapted
                feed = {**feed, name: np.zeros((len(feed["audio"]), *spec["shape"][1:]), dtype=dtype)}
            if name == "video" and no_video:
                if self.skips_absent_video:
                    continue
                feed = {**feed, name: np.zeros((len(feed["audio"]), *spec["shape"][1:]), dtype=dtype)}
            x = np.ascontiguousarray(feed[name])
            if x.dtype != dtype:
                raise RunnerError(f"input {name}: dtype {x.dtype}, the model takes {dtype}")
            want = spec["shape"][1:]
            if list(x.shape[1:]) != list(want):
                dims = ", ".join(map(str, want))
                raise RunnerError(f"input {name}: shape {list(x.shape)}, the model takes [B, {dims}]")
            if batch is not None and len(x) != batch:
                raise RunnerError(f"input {name}: batch {len(x)} differs from the other inputs' {batch}")
            batch = len(x)
            out[name] = x
        return out

    # for subclasses ------------------------------------------------------------------------
    def _rows_per_run(self) -> int | None:
        """The rows one ``_run`` takes (the artifact's fixed batch), None: any number."""
        return self.meta.batch

    @abstractmethod
    def _read_meta(self) -> ArtifactMeta: ...

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _deactivate(self) -> None: ...

    @abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def backend_for(path: str | Path, backend: str | None = None) -> str:
    """The backend named, or the one the artifact's suffix implies.

    Each backend runs one kind of file, so a named backend must agree with the suffix (the
    option exists to say so explicitly, e.g. in scripts); a mismatch says how to get the
    right file.
    """
    path = Path(path)
    if backend is not None:
        if backend not in BACKENDS:
            raise RunnerError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        implied = SUFFIX_BACKEND.get(path.suffix.lower())
        if implied is not None and implied != backend:
            problem = f"is an artifact for {implied}; backend {backend} runs {_files_of(backend)}"
            raise RunnerError(located(path, problem))
        return backend
    try:
        return SUFFIX_BACKEND[path.suffix.lower()]
    except KeyError:
        known = ", ".join(SUFFIX_BACKEND)
        raise RunnerError(located(path, f"unknown artifact type (expected one of {known})")) from None


def _files_of(backend: str) -> str:
    """What ``backend`` runs, and where such a file comes from."""
    suffixes = " or ".join(s for s, b in SUFFIX_BACKEND.items() if b == backend)
    source = {
        "torch": "checkpoints from `edgefusion train`",
        "onnxruntime": "graphs from `edgefusion export` or `edgefusion calibrate`",
        "tensorrt": "engines from `edgefusion build MODEL.onnx -o MODEL.engine`",
    }[backend]
    return f"{suffixes} files ({source})"


def open_runner(path: str | Path, backend: str | None = None, **options: Any) -> Runner:
    """A runner for the artifact at ``path`` (not yet active: use it with ``with``).

    ``options`` go to the backend: ``threads`` and ``providers`` for ONNX Runtime, ``device``
    for PyTorch.
    """
    chosen = backend_for(path, backend)
    if chosen == "torch":
        from edgefusion.runtime.torch_runner import TorchRunner

        return TorchRunner(path, **options)
    if chosen == "onnxruntime":
        from edgefusion.runtime.ort_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, **options)
    from edgefusion.runtime.tensorrt_runner import TensorRTRunner

    return TensorRTRunner(path, **options)
