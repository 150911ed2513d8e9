"""ONNX Runtime: CPU by default; the CUDA and TensorRT execution providers when installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefusion.artifact.metadata import ArtifactMeta, read_metadata
from edgefusion.errors import located
from edgefusion.runtime.runner import Runner, RunnerError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        providers: tuple[str, ...] = ("cpu",),
        spin: bool = True,
    ) -> None:
        """``threads``: intra-op threads [default: ONNX Runtime's, one per core]. ``spin``: idle
        intra-op threads busy-wait for the next call (ONNX Runtime's default: a few % lower
        latency for one session, but sessions timed side by side steal each other's cores)."""
        import onnxruntime as ort

        unknown = [p for p in providers if p not in PROVIDERS]
        if unknown:
            raise RunnerError(f"unknown execution provider {unknown[0]!r}; choose from {', '.join(PROVIDERS)}")
        available = set(ort.get_available_providers())
        missing = [p for p in providers if PROVIDERS[p] not in available]
        if missing:
            raise RunnerError(
                f"ONNX Runtime here lacks the {missing[0]} execution provider (has: {', '.join(sorted(available))})"
            )
        self.threads = threads
        self.spin = spin
        self.providers = [PROVIDERS[p] for p in providers]
        if "CPUExecutionProvider" not in self.providers:
            self.providers.append("CPUExecutionProvider")  # for the nodes the others cannot take
        self.session = None
        super().__init__(path)

    def _read_meta(self) -> ArtifactMeta:
        return read_metadata(self.path)

    def _activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: Q/DQ graphs make it chatty about unused initializers
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        if not self.spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=self.providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RunnerError(located(self.path, f"ONNX Runtime cannot load it: {first}")) from None

    def _deactivate(self) -> None:
        self.session = None

    @property
    def description(self) -> str:
        eps = ",".join(p.removesuffix("ExecutionProvider") for p in self.providers)
        return f"onnxruntime[{eps}] ({self.meta.precision})"

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.session is not None
        names = list(self.outputs)
        values = self.session.run(names, feed)
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(names, values, strict=True)}
