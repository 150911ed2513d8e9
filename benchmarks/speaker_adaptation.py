"""Speaker adaptation, how much enrolment it needs: a trained model's audio embedding centred per speaker.

    .venv/bin/python benchmarks/speaker_adaptation.py MODEL.pt [--data DIR] [--train-actors 1-12] \
        [--actors 13-16] [--enrol 4,8,16] [--draws 20] [--seed 0] [--json out.json]

On speakers it was not trained on, much of the model's error is the speaker, not the emotion:
a voice's pitch range and timbre place every clip of that speaker in one corner of
the embedding space. Speaker normalisation, the usual cure in speech emotion recognition,
removes each speaker's average. `edgefusion eval --adapt` scores one enrolment (every other
clip of the speaker, against the reference the checkpoint carries) and `edgefusion run --adapt`
uses a running mean; this script compares enrolments on any checkpoint, taking the reference
afresh from --train-actors. Every window of every clip of --train-actors and --actors is
encoded once (the model's own spectrogram and shared encoder, windows every 0.5 s as
`edgefusion eval` cuts them); a test clip's window embeddings are shifted by

    (mean over the training actors' windows) - (mean over the speaker's enrolment windows)

and scored by the fused head (video absent) and the audio head, window probabilities averaged
as `edgefusion eval` does. The enrolment, per test speaker:

    none      no shift: what `edgefusion eval` reports
    others    every other clip of the speaker (not the scored one); labels unused
    N clips   N clips of the speaker drawn at random (--enrol), averaged over --draws draws
    running   as a live session would: the speaker's clips in a random order, each clip
              centred on the clips before it (the first one unshifted); --draws orders
    neutral   the speaker's neutral clips only, against the training actors' neutral mean:
              an enrolment by reading a few sentences calmly (labels pick the clips)

Audio only: the corpus's video, if any, is not read (the shift touches the audio embedding).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgefusion.config import TrainConfig
from edgefusion.data.corpora import load_clips
from edgefusion.data.corpus import Clip
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import cut_window, scoring_starts
from edgefusion.errors import EdgefusionError
from edgefusion.labels import CLASSES
from edgefusion.metrics import score
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.model.network import EmotionNet

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech"
HOP_SECONDS = TrainConfig().eval_hop_seconds  # as `edgefusion eval` scores clips
BATCH = 32
NEUTRAL = CLASSES.index("NEU")
TABLE_WIDTH = 160  # columns when stdout is not a terminal, so that no figure is cut


def embed_clips(
    model: EmotionNet, clips: Sequence[Clip], store: ClipStore, tick: Callable[[], None]
) -> list[np.ndarray]:
    """Audio embeddings of every scoring window of every clip: one float32 [windows, D] per clip."""
    cfg = model.cfg
    out = []
    with torch.no_grad():
        for clip in clips:
            audio = store.audio(clip)
            if audio is None:
                raise EdgefusionError(f"{clip.clip_id}: no audio; speaker adaptation is measured on audio")
            starts = scoring_starts(len(audio) / cfg.sample_rate, cfg.window_seconds, HOP_SECONDS)
            windows = np.stack([cut_window(audio, None, s, cfg).audio for s in starts]).astype(np.float32)
            batches = [torch.from_numpy(windows[i : i + BATCH]) for i in range(0, len(windows), BATCH)]
            parts = [model.embed(b, None)[0] for b in batches]
            out.append(torch.cat(parts).numpy())
            tick()
    return out


class Scorer:
    """Clip probabilities of the fused (video absent) and audio heads for embeddings plus a per-clip shift."""

    def __init__(self, model: EmotionNet, embeddings: Sequence[np.ndarray]) -> None:
        self.model = model
        self.rows = np.concatenate([np.full(len(e), i) for i, e in enumerate(embeddings)])
        self.windows = torch.from_numpy(np.concatenate(embeddings))
        self.counts = np.bincount(self.rows, minlength=len(embeddings))[:, None]

    def probs(self, shifts: np.ndarray) -> dict[str, np.ndarray]:
        """``shifts`` [clips, D] -> {"fused", "audio"}: [clips, C] probabilities."""
        emb = self.windows + torch.from_numpy(shifts[self.rows].astype(np.float32))
        with torch.no_grad():  # the network's own heads, video absent as for an audio-only clip
            fused, audio, _ = self.model.classify(emb, None, emb.new_ones(len(emb), 2))
        heads = {"fused": torch.softmax(fused, -1), "audio": torch.softmax(audio, -1)}
        out = {}
        for name, p in heads.items():
            sums = np.zeros((len(self.counts), p.shape[1]))
            np.add.at(sums, self.rows, p.numpy().astype(np.float64))
            out[name] = sums / self.counts
        return out


def window_mean(embeddings: Sequence[np.ndarray], idx: Sequence[int]) -> np.ndarray:
    return np.concatenate([embeddings[i] for i in idx]).mean(axis=0)


def evaluate(scorer: Scorer, labels: np.ndarray, shifts: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for head, p in scorer.probs(shifts).items():
        s = score(labels, p.argmax(axis=1))
        out[head] = {"accuracy": s.accuracy, "macro_f1": s.macro_f1}
    return out


def running_shifts(embeddings: Sequence[np.ndarray], orders: Sequence[Sequence[int]], target: np.ndarray) -> np.ndarray:
    """[clips, D] shifts as a live session makes them: each speaker's clips heard in ``order``,
    each centred on the windows of the clips heard before it; a speaker's first clip is unshifted."""
    shifts = np.zeros((len(embeddings), len(target)))
    for order in orders:
        sums = np.cumsum([embeddings[i].sum(axis=0) for i in order], axis=0)
        counts = np.cumsum([len(embeddings[i]) for i in order])
        for p in range(1, len(order)):
            shifts[order[p]] = target - sums[p - 1] / counts[p - 1]
    return shifts


def over_draws(runs: Sequence[dict[str, dict[str, float]]]) -> dict:
    """Per head: mean accuracy and macro-F1 over draws, and the accuracy's range."""
    out: dict = {"draws": len(runs)}
    for head in ("fused", "audio"):
        acc = [r[head]["accuracy"] for r in runs]
        f1 = float(np.mean([r[head]["macro_f1"] for r in runs]))
        out[head] = {"accuracy": float(np.mean(acc)), "macro_f1": f1, "min": min(acc), "max": max(acc)}
    return out


def measure(
    model: EmotionNet,
    embeddings: Sequence[np.ndarray],
    train_clips: Sequence[Clip],
    test_clips: Sequence[Clip],
    counts: Sequence[int],
    draws: int,
    seed: int,
    console: Console,
) -> list[dict]:
    """One row per enrolment: {"enrolment", "clips", "fused", "audio"} (random ones: mean, min, max over draws)."""
    n_train = len(train_clips)
    test_emb = embeddings[n_train:]
    labels = np.array([c.label for c in test_clips])
    actors = [c.actor for c in test_clips]
    speakers = {a: [i for i, b in enumerate(actors) if b == a] for a in sorted(set(actors))}
    train_labels = np.array([c.label for c in train_clips])
    target = window_mean(embeddings, range(n_train))
    target_neutral = window_mean(embeddings, np.flatnonzero(train_labels == NEUTRAL))
    scorer = Scorer(model, test_emb)
    fewest = min(len(ix) for ix in speakers.values())

    def shifts(means: dict[str, np.ndarray], goal: np.ndarray) -> np.ndarray:
        return np.stack([goal - means[a] for a in actors])

    unshifted = np.zeros((len(labels), test_emb[0].shape[1]))
    rows: list[dict] = [{"enrolment": "none", "clips": 0, **evaluate(scorer, labels, unshifted)}]
    others = [target - window_mean(test_emb, [j for j in speakers[a] if j != i]) for i, a in enumerate(actors)]
    rows.append({"enrolment": "others", "clips": fewest - 1, **evaluate(scorer, labels, np.stack(others))})
    rng = np.random.default_rng(seed)
    for k in counts:
        if k > fewest:
            console.print(f"[yellow]skipping --enrol {k}: a speaker has only {fewest} clips[/]")
            continue
        runs = []
        for _ in range(draws):
            means = {a: window_mean(test_emb, rng.choice(ix, k, replace=False)) for a, ix in speakers.items()}
            runs.append(evaluate(scorer, labels, shifts(means, target)))
        rows.append({"enrolment": "random", "clips": k, **over_draws(runs)})
    runs = []
    for _ in range(draws):
        orders = [list(rng.permutation(ix)) for ix in speakers.values()]
        runs.append(evaluate(scorer, labels, running_shifts(test_emb, orders, target)))
    rows.append({"enrolment": "running", "clips": 0, **over_draws(runs)})
    neutral = {a: [i for i in ix if labels[i] == NEUTRAL] for a, ix in speakers.items()}
    if all(neutral.values()):
        means = {a: window_mean(test_emb, ix) for a, ix in neutral.items()}
        row = {"enrolment": "neutral", "clips": min(len(ix) for ix in neutral.values())}
        rows.append({**row, **evaluate(scorer, labels, shifts(means, target_neutral))})
    return rows


def print_table(rows: Sequence[dict], title: str, console: Console) -> None:
    names = {
        "none": "none (what `edgefusion eval` reports)",
        "others": "every other clip of the speaker",
        "neutral": "the speaker's neutral clips only",
        "running": "running: the speaker's clips heard before this one",
    }
    table = Table(title=title)
    table.add_column("enrolment per speaker")
    for col in ("fused accuracy", "fused macro-F1", "audio accuracy", "fused: range over draws"):
        table.add_column(col, justify="right")
    for r in rows:
        name = names.get(r["enrolment"], f"{r['clips']} random clips")
        fused = r["fused"]
        spread = f"{fused['min']:.1%} - {fused['max']:.1%}" if "draws" in r else ""
        table.add_row(
            name, f"{fused['accuracy']:.1%}", f"{fused['macro_f1']:.3f}", f"{r['audio']['accuracy']:.1%}", spread
        )
    console.print(table)


def parse_counts(text: str) -> list[int]:
    """``"4,8,16"`` -> [4, 8, 16]; a one-line error for anything else."""
    try:
        counts = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise EdgefusionError(f"--enrol {text!r}: expected positive clip counts separated by commas, e.g. 4,8,16")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a checkpoint (.pt) trained on --train-actors")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="corpus folder (default: shared RAVDESS speech)")
    ap.add_argument("--train-actors", default="1-12", help="actors the model was trained on (their mean is the target)")
    ap.add_argument("--actors", default="13-16", help="test actors, scored")
    ap.add_argument("--enrol", default="4,8,16", help="clip counts of the random enrolments")
    ap.add_argument("--draws", type=int, default=20, help="random enrolments drawn per count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=TABLE_WIDTH)
    try:
        counts = parse_counts(args.enrol)
        if args.draws < 1:
            raise EdgefusionError(f"--draws {args.draws}: must be at least 1")
        model, _ = load_checkpoint(args.model)
        model.eval()
        train_clips = load_clips(args.data, args.train_actors, False)
        test_clips = load_clips(args.data, args.actors, False)
        overlap = {c.actor for c in train_clips} & {c.actor for c in test_clips}
        if overlap:
            which = ", ".join(sorted(overlap))
            noun = "actors" if len(overlap) > 1 else "actor"
            raise EdgefusionError(f"{noun} {which} in both --train-actors and --actors: score unseen speakers")
        store = ClipStore(model.cfg, args.cache_dir)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("encoding windows", total=len(train_clips) + len(test_clips))
            embeddings = embed_clips(model, [*train_clips, *test_clips], store, lambda: bar.advance(task))
    except (EdgefusionError, ValueError) as e:
        sys.exit(f"error: {e}")

    rows = measure(model, embeddings, train_clips, test_clips, counts, args.draws, args.seed, console)
    print_table(
        rows, f"{args.model.name}: speaker adaptation on actors {args.actors} ({len(test_clips)} clips)", console
    )
    if args.json:
        doc = {
            "model": str(args.model),
            "data": str(args.data),
            "train_actors": args.train_actors,
            "actors": args.actors,
            "seed": args.seed,
            "results": rows,
        }
        args.json.write_text(json.dumps(doc, indent=2))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
