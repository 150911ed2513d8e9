"""The yardstick: a plain audio-only CNN that edgefusion's model is compared against, side by side.

    .venv/bin/python benchmarks/yardstick.py DATA [DATA ...] --test SPEC [--train SPEC] \
        [--seeds 0,1] [--epochs 40] [--threads N] [--json out.json]

e.g. ``benchmarks/yardstick.py ../shared/data/ravdess-speech --test ravdess:13-16 --threads 1``.
DATA are corpus folders (RAVDESS, CREMA-D, ... as edgefusion reads them), SPEC the speakers in
``--actors`` form ("ravdess:1-4", "emodb:03,emovo:f1"); ``--train`` defaults to every speaker
not in ``--test``. Nothing of edgefusion's recipe is in it (no 2 s windows, no speed perturbation, no
validation split); the recipe, exactly:

- input: a 64-band log-mel of the whole clip (decoded by ``edgefusion.data.audio.load_audio`` at
  16 kHz; n_fft 400 with a periodic Hann window, hop 160, no centre padding, Slaney mel filters
  over 50-8000 Hz, natural log of power + 1e-6, no dB floor), standardised per clip (its mean
  and standard deviation);
- network: five 3x3 convolutions of 16, 32, 64, 128, 128 channels, each with BatchNorm and
  ReLU, a 2x2 max-pool after each of the first four, global average pooling, dropout 0.3 and
  one linear layer to the 6 classes: 245,878 parameters;
- training: random 3 s crops (300 frames; a shorter clip padded with its own minimum), one
  frequency mask of up to 8 bands and one time mask of up to 30 frames per crop (set to 0, the
  clip's mean), Adam (lr 1e-3, weight decay 1e-4) with a cosine decay over all the epochs' steps,
  batches of 32, cross-entropy with label smoothing 0.1, the last epoch kept; torch and numpy
  seeded, so a seed (at one thread count) reproduces;
- scoring: each whole clip (padded to at least 3 s with its minimum) in one forward pass;
  accuracy and macro-F1 (``edgefusion.metrics.score``), per corpus too when the test clips
  span several;
- speaker-adapted, the counterpart of ``edgefusion eval --adapt``: the pooled feature (before
  dropout and the linear layer) of each test clip plus the mean feature over the training
  clips minus the mean over the same speaker's OTHER test clips (leave-one-out, no labels);
  a speaker with a single clip is left unshifted.

Clips without audio are left out. Per epoch it prints a line (loss, seconds) when stdout is not a
terminal (on a terminal, one line rewritten in place), then a line per seed and the mean;
``--json`` keeps every figure. The core, ``features``, ``train_yardstick`` and
``score_yardstick``, is importable, so a driver can run the recipe and the yardstick on the same
folds in one process (decoded features are cached in memory for the run).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgefusion.data.audio import load_audio
from edgefusion.data.corpus import Clip
from edgefusion.errors import EdgefusionError, require_writable
from edgefusion.labels import NUM_CLASSES
from edgefusion.metrics import score
from edgefusion.model.frontend import mel_filterbank

SAMPLE_RATE, N_FFT, HOP, N_MELS, F_MIN, F_MAX = 16000, 400, 160, 64, 50.0, 8000.0
LOG_OFFSET = 1e-6
CHANNELS = (16, 32, 64, 128, 128)
POOLED = 4  # a 2x2 max-pool after each of the first four convolutions
PARAMETERS = 245_878
CROP = 300  # frames: 3 s at a 10 ms hop
FREQ_MASK, TIME_MASK = 8, 30
BATCH, LR, WEIGHT_DECAY, EPOCHS = 32, 1e-3, 1e-4, 40
LABEL_SMOOTHING, DROPOUT = 0.1, 0.3

_FILTERS = torch.from_numpy(mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, F_MIN, F_MAX)).float()  # [M, F]
_WINDOW = torch.hann_window(N_FFT, periodic=True)
_CACHE: dict[str, np.ndarray] = {}  # audio path -> standardised log-mel: each clip decoded once a run


def log_mel(samples: np.ndarray) -> np.ndarray:
    """float32 log-mel ``[64, frames]`` of 16 kHz PCM ``[S]``, ``frames = 1 + (S - 400) // 160``.

    A clip shorter than one window is zero-padded to one frame.
    """
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if len(x) < N_FFT:
        x = F.pad(x, (0, N_FFT - len(x)))
    spec = torch.stft(x, N_FFT, HOP, window=_WINDOW, center=False, return_complex=True)  # [F, T]
    power = spec.real.square() + spec.imag.square()
    return torch.log(_FILTERS @ power + LOG_OFFSET).numpy()


def standardise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / (x.std() + 1e-5)).astype(np.float32)


def features(clips: Sequence[Clip]) -> list[np.ndarray]:
    """Each clip's standardised log-mel ``[64, frames]``, decoded once per run (cached in memory)."""
    out = []
    for clip in clips:
        if clip.audio is None:
            raise EdgefusionError(f"{clip.clip_id}: the yardstick needs audio and this clip has none")
        key = str(Path(clip.audio).resolve())
        if key not in _CACHE:
            _CACHE[key] = standardise(log_mel(load_audio(clip.audio, SAMPLE_RATE)))
        out.append(_CACHE[key])
    return out


class Yardstick(nn.Module):
    """Standardised log-mel ``[B, 1, 64, T]`` -> logits ``[B, 6]``; ``embed`` gives the pooled feature ``[B, 128]``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(CHANNELS):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < POOLED:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(c_in, NUM_CLASSES))
        self.train_seconds = 0.0

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pad_to(spec: np.ndarray, frames: int) -> np.ndarray:
    """``spec`` ``[M, T]`` padded at the end with its own minimum to at least ``frames``."""
    if spec.shape[1] >= frames:
        return spec
    return np.pad(spec, ((0, 0), (0, frames - spec.shape[1])), constant_values=spec.min())


def crop(spec: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random ``CROP``-frame crop with one frequency and one time mask (zeros: the clip's mean)."""
    spec = pad_to(spec, CROP)
    start = int(rng.integers(0, spec.shape[1] - CROP + 1))
    out = spec[:, start : start + CROP].copy()
    for axis, most in ((0, FREQ_MASK), (1, TIME_MASK)):
        width = int(rng.integers(0, most + 1))
        begin = int(rng.integers(0, out.shape[axis] - width + 1))
        if axis == 0:
            out[begin : begin + width] = 0.0
        else:
            out[:, begin : begin + width] = 0.0
    return out


def with_audio(clips: Sequence[Clip]) -> list[Clip]:
    return [c for c in clips if c.audio is not None]


def train_yardstick(
    train_clips: Sequence[Clip],
    seed: int,
    epochs: int = EPOCHS,
    threads: int | None = None,
    log: Callable[[str], object] | None = print,
) -> Yardstick:
    """The yardstick trained on ``train_clips`` (those with audio), in eval mode; ``train_seconds`` set.

    ``threads``: torch's thread count while training (restored after). ``log`` gets a line per epoch.
    """
    clips = with_audio(train_clips)
    if not clips:
        raise EdgefusionError("no training clip has audio")
    if epochs < 1:
        raise EdgefusionError(f"--epochs must be at least 1, got {epochs}")
    specs = features(clips)
    labels = torch.tensor([c.label for c in clips])
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = Yardstick()
        opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * math.ceil(len(clips) / BATCH))
        t0 = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            order = rng.permutation(len(clips))
            total = 0.0
            for i in range(0, len(order), BATCH):
                idx = order[i : i + BATCH]
                x = torch.from_numpy(np.stack([crop(specs[j], rng) for j in idx]))[:, None]
                loss = F.cross_entropy(model(x), labels[idx], label_smoothing=LABEL_SMOOTHING)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            if log is not None:
                seconds = time.perf_counter() - t0
                log(f"seed {seed} epoch {epoch + 1}/{epochs} loss {total / len(order):.3f} ({seconds:.0f} s)")
        model.train_seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)
    return model.eval()


@torch.no_grad()
def embed_clips(model: Yardstick, clips: Sequence[Clip]) -> np.ndarray:
    """``[N, 128]``: each whole clip's pooled feature (padded to at least 3 s with its minimum)."""
    model.eval()
    rows = [model.embed(torch.from_numpy(pad_to(s, CROP))[None, None])[0] for s in features(clips)]
    return torch.stack(rows).double().numpy() if rows else np.zeros((0, CHANNELS[-1]))


def leave_one_out_shifts(embeddings: np.ndarray, speakers: Sequence[str], reference: np.ndarray) -> np.ndarray:
    """``[N, D]``: ``reference`` minus the mean of the same speaker's other clips; zero for a lone clip."""
    shifts = np.zeros_like(embeddings)
    speaker_of_row = np.asarray(speakers)
    for speaker in np.unique(speaker_of_row):
        rows = np.flatnonzero(speaker_of_row == speaker)
        if len(rows) < 2:
            continue
        total = embeddings[rows].sum(axis=0)
        for i in rows:
            shifts[i] = reference - (total - embeddings[i]) / (len(rows) - 1)
    return shifts


@torch.no_grad()
def classify(model: Yardstick, embeddings: np.ndarray) -> np.ndarray:
    """Class index of each pooled feature ``[N, D]`` (eval mode: dropout off)."""
    model.eval()
    if len(embeddings) == 0:
        return np.zeros(0, dtype=np.int64)
    return model.head(torch.from_numpy(embeddings).float()).argmax(dim=1).numpy()


def _figures(labels: np.ndarray, preds: np.ndarray, adapted: np.ndarray) -> dict[str, Any]:
    return {"n": len(labels), "unadapted": score(labels, preds).to_dict(), "adapted": score(labels, adapted).to_dict()}


def score_yardstick(model: Yardstick, train_clips: Sequence[Clip], test_clips: Sequence[Clip]) -> dict[str, Any]:
    """Accuracy and macro-F1 on ``test_clips`` (those with audio), unadapted and speaker-adapted.

    ``{"n", "unadapted": Scores.to_dict(), "adapted": ..., "per_corpus": {corpus: {"n", "unadapted",
    "adapted"}} (several corpora only), "lone_clips" (scored unadapted in "adapted": their speaker has
    no other clip), "clips": [{"clip_id", "speaker", "label", "pred", "adapted_pred"}],
    "train_seconds", "score_seconds"}``. The adaptation's reference is the mean pooled feature
    over ``train_clips``.
    """
    t0 = time.perf_counter()
    train, test = with_audio(train_clips), with_audio(test_clips)
    if not train or not test:
        raise EdgefusionError("the yardstick needs training and test clips with audio")
    reference = embed_clips(model, train).mean(axis=0)
    emb = embed_clips(model, test)
    speakers = [c.speaker for c in test]
    shifts = leave_one_out_shifts(emb, speakers, reference)
    preds, adapted = classify(model, emb), classify(model, emb + shifts)
    labels = np.array([c.label for c in test], dtype=np.int64)
    out = _figures(labels, preds, adapted)
    corpora = sorted({c.corpus for c in test})
    if len(corpora) > 1:
        of = np.array([c.corpus for c in test])
        out["per_corpus"] = {k: _figures(labels[of == k], preds[of == k], adapted[of == k]) for k in corpora}
    out["lone_clips"] = int((~shifts.any(axis=1)).sum())
    out["clips"] = [
        {"clip_id": c.clip_id, "speaker": s, "label": int(y), "pred": int(p), "adapted_pred": int(a)}
        for c, s, y, p, a in zip(test, speakers, labels, preds, adapted, strict=True)
    ]
    out["train_seconds"] = round(model.train_seconds, 1)
    out["score_seconds"] = round(time.perf_counter() - t0, 1)
    return out


# ---------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line (main prints it), not argparse's usage and message
        raise EdgefusionError(message)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = _Parser(description=(__doc__ or "").split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path, help="corpus folders")
    ap.add_argument("--test", required=True, help="test speakers, e.g. ravdess:13-16")
    ap.add_argument("--train", help="training speakers (default: every speaker not in --test)")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    ap.add_argument("--epochs", type=int, default=EPOCHS, help=f"default {EPOCHS}")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    return ap.parse_args(argv)


def split(datas: Sequence[Path], test_spec: str, train_spec: str | None) -> tuple[list[Clip], list[Clip]]:
    """(train, test) clips with audio; one-line errors for specs that name no clip or overlap."""
    from edgefusion.data.corpora import load_clips

    test = load_clips(datas, test_spec, False, "--test")
    if train_spec is None:
        held = {c.speaker for c in test}
        train = [c for c in load_clips(datas, None, False, "--train") if c.speaker not in held]
    else:
        train = load_clips(datas, train_spec, False, "--train")
        both = sorted({c.speaker for c in train} & {c.speaker for c in test})
        if both:
            raise EdgefusionError(f"speaker(s) {', '.join(both)} in both --train and --test")
    train, test = with_audio(train), with_audio(test)
    if not test:
        raise EdgefusionError(f"--test {test_spec}: no clip with audio")
    if not train:
        raise EdgefusionError("no training clip with audio (every speaker is in --test?)")
    return train, test


def _line(r: dict[str, Any]) -> str:
    u, a = r["unadapted"], r["adapted"]
    return (
        f"accuracy {u['accuracy']:.1%} macro-F1 {u['macro_f1']:.3f}, "
        f"adapted {a['accuracy']:.1%} macro-F1 {a['macro_f1']:.3f}"
    )


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; a one-line error otherwise (also for speaker_folds.py and distil.py)."""
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise EdgefusionError(f"--seeds {text!r}: give whole numbers, e.g. 0,1,2") from None


def at_least_one(option: str, value: int | None) -> None:
    """A one-line error for a count option below 1 (None: not given)."""
    if value is not None and value < 1:
        raise EdgefusionError(f"{option} must be at least 1, got {value}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
        at_least_one("--epochs", args.epochs)
        at_least_one("--threads", args.threads)
        seeds = parse_seeds(args.seeds)
        if args.json is not None:
            require_writable(args.json)
        train, test = split(args.data, args.test, args.train)
    except EdgefusionError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    before = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        run(args, seeds, train, test)
    finally:
        torch.set_num_threads(before)
    return 0


def run(args: argparse.Namespace, seeds: list[int], train: list[Clip], test: list[Clip]) -> None:
    tty = sys.stdout.isatty()

    def log(line: str) -> None:  # a line per epoch; on a terminal, one line rewritten
        print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", flush=True)

    parameters = parameter_count(Yardstick())
    assert parameters == PARAMETERS, parameters
    print(
        f"{len(train)} training clips ({len({c.speaker for c in train})} speakers), {len(test)} test clips "
        f"({len({c.speaker for c in test})} speakers); {parameters:,} parameters; "
        f"{torch.get_num_threads()} thread(s)",
        flush=True,
    )
    runs = []
    for seed in seeds:
        model = train_yardstick(train, seed, args.epochs, log=log)
        if tty:
            print()
        r = {"seed": seed, **score_yardstick(model, train, test)}
        print(f"seed {seed}: {_line(r)} ({r['train_seconds']:.0f} s)", flush=True)
        for corpus, c in r.get("per_corpus", {}).items():
            print(f"  {corpus}: {_line(c)} ({c['n']} clips)", flush=True)
        runs.append(r)
    mean = {
        kind: {m: float(np.mean([r[kind][m] for r in runs])) for m in ("accuracy", "macro_f1")}
        for kind in ("unadapted", "adapted")
    }
    print(f"mean of {len(runs)} seed(s): {_line(mean)}", flush=True)
    if args.json is not None:
        record = {
            "data": [str(d) for d in args.data],
            "test": args.test,
            "train": args.train,
            "epochs": args.epochs,
            "threads": torch.get_num_threads(),
            "parameters": parameters,
            "runs": runs,
            "mean": mean,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
