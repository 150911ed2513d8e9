"""The artifact contract: the names, types and shapes every edgefusion artifact takes and gives.

A checkpoint, an ONNX file and a TensorRT engine of one model all answer to this contract, so
one runner interface serves them all. The exported graph also takes ``audio_shift`` (a
speaker's centring, zeros when unadapted) and gives ``audio_embedding``; artifacts exported
before speaker adaptation lack both, and the runners accept them without.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefusion.config import ModelConfig
from edgefusion.labels import CLASSES

INPUTS = ("audio", "video", "present")  # every artifact takes these
OUTPUTS = ("logits", "audio_logits", "video_logits")  # and gives these
SHIFT_INPUT = "audio_shift"  # the speaker-adaptation input of an artifact that has one
EMBEDDING_OUTPUT = "audio_embedding"  # and its output
GRAPH_INPUTS = (*INPUTS, SHIFT_INPUT)  # what `edgefusion export` writes
GRAPH_OUTPUTS = (*OUTPUTS, EMBEDDING_OUTPUT)
# the contract's dtypes as Triton names them (KServe v2 datatypes; model_config.proto adds TYPE_)
TRITON_DATATYPES = {"float32": "FP32", "float16": "FP16", "uint8": "UINT8", "int64": "INT64"}
# how long a request may wait in Triton's queue for others to batch with: 2 ms, under 1% of a 250 ms hop
DEFAULT_QUEUE_DELAY_US = 2000




def contract(cfg: ModelConfig, batch: int | str = "B") -> list[dict[str, Any]]:
    """The tensor contract of a model of this config, one dict per tensor (``batch``: an int or an axis name)."""
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
            "meaning": f"{t} face crops spread across the window, BGR",
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


def synthetic_feed(cfg: ModelConfig, windows: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Speech-like stand-in when no corpus is at hand: harmonic tones in noise, random crops."""
    rng = np.random.default_rng(seed)
    t = np.arange(cfg.window_samples) / cfg.sample_rate
    f0 = rng.uniform(90, 250, (windows, 1))
    audio = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * 0.1
    audio = audio + 0.01 * rng.standard_normal(audio.shape)
    video = rng.integers(0, 256, (windows, cfg.frames, cfg.frame_size, cfg.frame_size, 3), dtype=np.uint8)
    present = np.ones((windows, 2), dtype=np.float32)
    return {"audio": audio.astype(np.float32), "video": video, "present": present}
