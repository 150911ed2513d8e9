"""Describing a model: its input/output contract and multiply-accumulates per part."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgefusion.config import ModelConfig
from edgefusion.labels import CLASSES
from edgefusion.model.network import EmotionNet

INPUTS = ("audio", "video", "present", "audio_shift")
OUTPUTS = ("logits", "audio_logits", "video_logits", "audio_embedding")


def contract(cfg: ModelConfig, batch: int | str = "B") -> list[dict[str, Any]]:
    """DESIGN.md's tensor contract for this config, one dict per tensor."""
    t, s = cfg.frames, cfg.frame_size
    k = len(CLASSES)
    return [
        {
            "name": "audio",
            "io": "in",
            "dtype": "float32",
            "shape": [batch, cfg.window_samples],
            "meaning": f"mono PCM at {cfg.sample_rate} Hz in [-1, 1], {cfg.window_seconds:g} s",
        },
        {
            "name": "video",
            "io": "in",
            "dtype": "uint8",
            "shape": [batch, t, s, s, 3],
            "meaning": f"the last {t} face crops, BGR",
        },
        {
            "name": "present",
            "io": "in",
            "dtype": "float32",
            "shape": [batch, 2],
            "meaning": "1 where audio, video is live; 0 masks it out",
        },
        {
            "name": "audio_shift",
            "io": "in",
            "dtype": "float32",
            "shape": [batch, cfg.embed_dim],
            "meaning": "added to the audio embedding: the speaker's centring (zeros: unadapted)",
        },
        {
            "name": "logits",
            "io": "out",
            "dtype": "float32",
            "shape": [batch, k],
            "meaning": "fused scores, " + " ".join(CLASSES),
        },
        {"name": "audio_logits", "io": "out", "dtype": "float32", "shape": [batch, k], "meaning": "audio alone"},
        {"name": "video_logits", "io": "out", "dtype": "float32", "shape": [batch, k], "meaning": "video alone"},
        {
            "name": "audio_embedding",
            "io": "out",
            "dtype": "float32",
            "shape": [batch, cfg.embed_dim],
            "meaning": "the audio embedding before the shift (averaged per speaker to adapt)",
        },
    ]


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
