"""A plain audio-only CNN on the same speaker split: the yardstick the shared encoder is held to.

    .venv/bin/python benchmarks/plain_cnn.py [DATA] [--train 1-12] [--test 13-16] \
        [--seeds 0,1] [--epochs 50] [--masks] [--json out.json]

Issue 3 asks the shared encoder to reach 60% on RAVDESS actors 13-16, on the premise that "a
plain CNN reaches about that here". This script measures that premise on this machine, outside
the package's training loop, so nothing of edgefusion's recipe (2 s windows resized to a
112x112 image, speed perturbation, modality dropout, a validation split) is in it:

- features: edgefusion's log-mel (64 bands, 25 ms window, 10 ms hop; the front end the parity
  test holds to librosa) of each whole clip, standardised per clip, at native resolution
  ``[64, frames]``: no resize;
- network: four blocks of 3x3 convolution, BatchNorm, ReLU and 2x2 max-pool (32-64-128-256
  channels), global average pooling, dropout 0.3 and a linear layer: the textbook CNN of
  speech emotion recognition papers;
- training: Adam, lr 1e-3 with a cosine decay, batches of 32 random 3 s crops (a clip is
  about 3.6 s), cross-entropy, every training actor (no validation split), the last epoch kept;
  ``--masks`` adds SpecAugment-style masks (two of up to 12 frames, two of up to 6 bands);
- scoring: each test clip whole (global pooling takes any length), accuracy and macro-F1.

It prints one line per seed and the mean; ``--json`` keeps them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgefusion.config import ModelConfig
from edgefusion.data.audio import load_audio
from edgefusion.data.corpus import scan_corpus
from edgefusion.data.splits import parse_actors, select_actors
from edgefusion.errors import EdgefusionError
from edgefusion.labels import NUM_CLASSES
from edgefusion.metrics import score
from edgefusion.model.frontend import LogMel

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech"
CHANNELS = (32, 64, 128, 256)
CROP_FRAMES = 300  # 3 s at a 10 ms hop
BATCH = 32
LR = 1e-3
DROPOUT = 0.3
TIME_MASK, FREQ_MASK = 12, 6


def features(paths: list[Path]) -> list[torch.Tensor]:
    """Each clip's standardised log-mel ``[n_mels, frames]``."""
    cfg = ModelConfig()
    logmel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.f_min, cfg.f_max, cfg.top_db)
    out = []
    with torch.no_grad():
        for path in paths:
            db = logmel(torch.from_numpy(load_audio(path, cfg.sample_rate))[None])[0]  # [M, T]
            out.append((db - db.mean()) / (db.std() + 1e-5))
    return out


class PlainCNN(nn.Module):
    """log-mel ``[B, 1, M, T]`` -> logits ``[B, classes]``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in CHANNELS:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(c_in, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


def crop(spec: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A random ``CROP_FRAMES`` crop of ``[M, T]``; a shorter clip is padded with its minimum."""
    t = spec.shape[1]
    if t < CROP_FRAMES:
        return F.pad(spec, (0, CROP_FRAMES - t), value=float(spec.min()))
    start = int(rng.integers(0, t - CROP_FRAMES + 1))
    return spec[:, start : start + CROP_FRAMES]


def mask(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Two time and two frequency masks per sample of ``[B, M, T]``, set to zero (the clip's mean)."""
    batch = batch.clone()
    for x in batch:
        for axis, width in ((1, TIME_MASK), (0, FREQ_MASK)):
            for _ in range(2):
                w = int(rng.integers(0, width + 1))
                s = int(rng.integers(0, x.shape[axis] - w + 1))
                x.narrow(axis, s, w).zero_()
    return batch


def run_seed(
    train_x: list[torch.Tensor],
    train_y: np.ndarray,
    test_x: list[torch.Tensor],
    test_y: np.ndarray,
    seed: int,
    epochs: int,
    masks: bool,
) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PlainCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = epochs * math.ceil(len(train_x) / BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    labels = torch.from_numpy(train_y)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train_x))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            x = torch.stack([crop(train_x[j], rng) for j in idx])
            if masks:
                x = mask(x, rng)
            loss = F.cross_entropy(model(x[:, None]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  seed {seed} epoch {epoch + 1}/{epochs} loss {total / len(order):.3f}", file=sys.stderr, flush=True)
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        preds = np.array([int(model(x[None, None]).argmax()) for x in test_x])
    s = score(test_y, preds)
    return {"seed": seed, "accuracy": s.accuracy, "macro_f1": s.macro_f1, "train_seconds": round(train_s, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--train", default="1-12", help="training actors (default 1-12)")
    ap.add_argument("--test", default="13-16", help="test actors (default 13-16)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--masks", action="store_true", help="add SpecAugment-style time and frequency masks")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    try:
        clips = scan_corpus(args.data)
        train = select_actors(clips, parse_actors(args.train, "--train"), "--train")
        test = select_actors(clips, parse_actors(args.test, "--test"), "--test")
    except EdgefusionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if {c.actor for c in train} & {c.actor for c in test}:
        print("error: --train and --test share actors", file=sys.stderr)
        return 2
    train_x = features([c.audio for c in train])
    test_x = features([c.audio for c in test])
    train_y = np.array([c.label for c in train])
    test_y = np.array([c.label for c in test])
    print(f"{len(train)} training clips, {len(test)} test clips; threads {torch.get_num_threads()}", flush=True)
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_seed(train_x, train_y, test_x, test_y, seed, args.epochs, args.masks)
        line = f"seed {seed}: accuracy {r['accuracy']:.1%}  macro-F1 {r['macro_f1']:.3f}  ({r['train_seconds']} s)"
        print(line, flush=True)
        results.append(r)
        if args.json:
            args.json.write_text(json.dumps({"masks": args.masks, "epochs": args.epochs, "runs": results}, indent=2))
    print(f"mean accuracy {np.mean([r['accuracy'] for r in results]):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
