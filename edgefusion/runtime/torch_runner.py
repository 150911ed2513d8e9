"""PyTorch eager from a checkpoint: the reference the other backends are compared against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgefusion.artifact.contract import GRAPH_INPUTS as INPUTS
from edgefusion.artifact.contract import contract
from edgefusion.artifact.metadata import ArtifactMeta, new_meta
from edgefusion.config import MODALITIES_KEY, REFERENCE_KEY
from edgefusion.errors import located
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.model.network import EmotionNet
from edgefusion.runtime.runner import Runner, RunnerError


class TorchRunner(Runner):
    backend = "torch"
    skips_absent_video = True  # the network takes video=None: no trunk pass over blank frames

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RunnerError(located(path, f"device {device} asked for, but this PyTorch sees no CUDA GPU"))
        self.threads = threads
        self.model: EmotionNet | None = None
        super().__init__(path)

    def _read_meta(self) -> ArtifactMeta:
        model, meta = load_checkpoint(self.path)
        self._loaded = model
        artifact = new_meta(model.cfg, list(meta["classes"]), contract(model.cfg, "B"), "fp32")
        if meta.get(REFERENCE_KEY) is not None:
            artifact.extra[REFERENCE_KEY] = meta[REFERENCE_KEY]
        if meta.get(MODALITIES_KEY) is not None:
            artifact.extra[MODALITIES_KEY] = meta[MODALITIES_KEY]
        return artifact

    def _activate(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        self.model = self._loaded.to(self.device).eval()

    def _deactivate(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.model is not None
        args = [torch.from_numpy(feed[k]).to(self.device, non_blocking=True) if k in feed else None for k in INPUTS]
        outputs = self.model.deploy(*args)
        return {k: v.float().cpu().numpy() for k, v in zip(self.outputs, outputs, strict=True)}
