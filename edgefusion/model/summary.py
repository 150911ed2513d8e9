"""Describing a model: multiply-accumulates per part (the contract is ``edgefusion.artifact.contract``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgefusion.model.network import EmotionNet


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        kernel = module.weight[0].numel()  # in_channels / groups * kernel elements
        return output.numel() * kernel
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def _count(fn: Any, modules: list[nn.Module]) -> int:
    total = 0

    def hook(m: nn.Module, i: tuple[torch.Tensor, ...], o: torch.Tensor) -> None:
        nonlocal total
        total += _layer_macs(m, i, o)

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            fn()
    finally:
        for h in handles:
            h.remove()
    return total


@torch.no_grad()
def count_macs(model: EmotionNet) -> dict[str, int]:
    """Multiply-accumulates for one sample: audio path, video path (all T frames), fusion and heads.

    Convolutions and linear layers are counted; the front end and the attention MatMuls are
    added analytically; element-wise ops are not counted.
    """
    cfg = model.cfg
    model = model.eval()
    layers = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]
    audio = torch.zeros(1, cfg.window_samples)
    spec = model.spectrogram(audio)
    faces = torch.zeros(cfg.frames, 3, cfg.frame_size, cfg.frame_size)
    enc = model.encoder

    def audio_path() -> None:
        enc.project(enc.trunk(enc.audio_stem(spec)).mean(dim=(2, 3)))

    def video_path() -> None:
        enc.project(enc.trunk(enc.video_stem(faces)).mean(dim=(2, 3)))

    d, n_tokens = cfg.embed_dim, cfg.frames + 2
    tokens = torch.zeros(1, d)

    def fusion_path() -> None:
        model.fusion(tokens, torch.zeros(1, cfg.frames, d), torch.ones(1, 2))
        for head in (model.head, model.audio_head, model.video_head):
            head(tokens)

    front_end = model.logmel.macs(cfg.spec_frames)
    attention = 2 * n_tokens * n_tokens * d
    return {
        "audio path": _count(audio_path, layers) + front_end,
        f"video path ({cfg.frames} frames)": _count(video_path, layers),
        "fusion and heads": _count(fusion_path, layers) + attention,
    }
