"""Batch-1 PyTorch forward time on the CPU: median and p90 of N runs after warm-up.

    .venv/bin/python benchmarks/forward_cpu.py [model.pt] [--runs 100] [--threads 2]

Inputs are a real speech window (RAVDESS when present, else a tone) and random face crops;
the figures are for comparing settings on one machine, not across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from edgefusion.config import ModelConfig
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.model.network import EmotionNet

RAVDESS_CLIP = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech/Actor_13/03-01-05-02-01-01-13.wav"


def speech_window(cfg: ModelConfig) -> torch.Tensor:
    if RAVDESS_CLIP.exists():
        from edgefusion.data.audio import fit_length, load_audio

        return torch.from_numpy(fit_length(load_audio(RAVDESS_CLIP, cfg.sample_rate), cfg.window_samples, 8000))[None]
    t = np.arange(cfg.window_samples) / cfg.sample_rate
    return torch.from_numpy((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))[None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, help="checkpoint (default: a freshly initialised model)")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.model)[0] if args.model else EmotionNet(ModelConfig()).eval()
    cfg = model.cfg
    audio = speech_window(cfg)
    video = torch.randint(0, 256, (1, cfg.frames, cfg.frame_size, cfg.frame_size, 3), dtype=torch.uint8)
    for name, present in (("audio+video", [[1.0, 1.0]]), ("audio only", [[1.0, 0.0]])):
        p = torch.tensor(present)
        times = []
        with torch.inference_mode():
            for i in range(args.warmup + args.runs):
                t0 = time.perf_counter_ns()
                model(audio, video, p)
                if i >= args.warmup:
                    times.append((time.perf_counter_ns() - t0) / 1e6)
        times.sort()
        p90 = times[int(0.9 * (len(times) - 1))]
        print(
            f"{name:12s} batch 1, {args.threads} threads, {args.runs} runs: median {statistics.median(times):.2f} ms, "
            f"p90 {p90:.2f} ms, min {times[0]:.2f} ms"
        )


if __name__ == "__main__":
    main()
