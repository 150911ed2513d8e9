"""Speaker adaptation in the live runtime: each test speaker as one session through `edgefusion run`.

    .venv/bin/python benchmarks/live_adaptation.py MODEL [--data DIR] [--actors 13-16] [--seed 0] \
        [--threads 2] [--out-dir live-adapt] [--json out.json]

For each speaker, the speaker's clips are put end to end in a random order (decoded, mixed to
mono and resampled as training does) into one WAV, which `edgefusion run MODEL --audio
file://... --fast --print --jsonl ...` replays twice: as it is and with `--adapt`, where the
audio embedding is centred on the running mean of the session's voiced windows. Each clip is
then scored from the events whose 2 s window lies inside it (their unsmoothed fused
probabilities averaged; a clip shorter than a window takes the events whose window ends in it),
so the figures are the deployed artifact's, through the streaming pipeline, at its 0.25 s hop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from edgefusion.data.corpora import load_clips
from edgefusion.data.corpus import Clip
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError
from edgefusion.labels import CLASSES
from edgefusion.metrics import score
from edgefusion.runtime.runner import open_runner

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech"
MODES = ("unadapted", "adapted")


def session_wav(clips: list[Clip], store: ClipStore, path: Path, rate: int) -> list[tuple[float, float]]:
    """Write ``clips`` end to end to ``path``; returns each clip's (start, end) in seconds."""
    parts, spans, at = [], [], 0
    for clip in clips:
        pcm = store.audio(clip)
        if pcm is None:
            raise EdgefusionError(f"{clip.clip_id}: no audio")
        parts.append(pcm)
        spans.append((at / rate, (at + len(pcm)) / rate))
        at += len(pcm)
    sf.write(path, np.concatenate(parts), rate, subtype="FLOAT")
    return spans


def replay(model: Path, wav: Path, jsonl: Path, adapt: bool, threads: int) -> list[dict]:
    cmd = [sys.executable, "-m", "edgefusion", "run", str(model), "--audio", f"file://{wav}", "--fast", "--print",
           "--jsonl", str(jsonl), "--threads", str(threads), "--adapt" if adapt else "--no-adapt"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EdgefusionError(f"edgefusion run failed: {proc.stderr.strip().splitlines()[-1]}")
    return [json.loads(line) for line in jsonl.read_text().splitlines()]


def clip_probs(events: list[dict], spans: list[tuple[float, float]], window: float) -> np.ndarray:
    """[clips, C]: mean raw fused probabilities of the decided events whose window lies inside each clip
    (a clip the VAD heard no speech in gets uniform probabilities, a miss unless by chance)."""
    events = [e for e in events if e["label"] is not None]
    ends = np.array([e["t"] for e in events])
    probs = np.array([[e["raw"]["fused"][c] for c in CLASSES] for e in events])
    out = np.zeros((len(spans), len(CLASSES)))
    for i, (start, end) in enumerate(spans):
        inside = (ends - window >= start - 1e-6) & (ends <= end + 1e-6)
        if not inside.any():
            inside = (ends > start) & (ends <= end + 1e-6)
        out[i] = probs[inside].mean(axis=0) if inside.any() else 1.0 / len(CLASSES)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an artifact with a training reference (.pt, .onnx, .engine)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--actors", default="13-16", help="the speakers, one session each")
    ap.add_argument("--seed", type=int, default=0, help="seeds the order of each speaker's clips")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--out-dir", type=Path, default=Path("live-adapt"), help="session WAVs and event logs")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console()
    try:
        with open_runner(args.model) as runner:
            cfg = runner.meta.config
        clips = load_clips(args.data, args.actors, False)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        store = ClipStore(cfg, args.cache_dir)
        rng = np.random.default_rng(args.seed)
        labels, preds = [], {m: [] for m in MODES}
        sessions = []
        for actor in sorted({c.actor for c in clips}):
            mine = [c for c in clips if c.actor == actor]
            mine = [mine[i] for i in rng.permutation(len(mine))]
            wav = args.out_dir / f"actor{actor}.wav"
            spans = session_wav(mine, store, wav, cfg.sample_rate)
            labels += [c.label for c in mine]
            row: dict = {"actor": actor, "clips": len(mine), "seconds": round(spans[-1][1], 1)}
            for mode in MODES:
                events = replay(args.model, wav, args.out_dir / f"actor{actor}.{mode}.jsonl", mode == "adapted",
                                args.threads)  # fmt: skip
                probs = clip_probs(events, spans, cfg.window_seconds)
                preds[mode].append(probs.argmax(axis=1))
                row[mode] = float(np.mean(probs.argmax(axis=1) == [c.label for c in mine]))
                if mode == "adapted":
                    first = next((e["t"] for e in events if e["adapted"]), None)
                    row["adapted_from_s"] = first
            sessions.append(row)
            console.print(row)
    except EdgefusionError as e:
        sys.exit(f"error: {e}")

    truth = np.array(labels)
    table = Table(title=f"{args.model.name}: one live session per speaker, actors {args.actors} ({len(truth)} clips)")
    for col in ("run", "fused accuracy", "fused macro-F1"):
        table.add_column(col, justify="right")
    results = {}
    for mode in MODES:
        s = score(truth, np.concatenate(preds[mode]))
        results[mode] = s.to_dict()
        table.add_row(f"edgefusion run{' --adapt' if mode == 'adapted' else ''}", f"{s.accuracy:.1%}",
                      f"{s.macro_f1:.3f}")  # fmt: skip
    console.print(table)
    if args.json:
        doc = {"model": str(args.model), "actors": args.actors, "seed": args.seed, "sessions": sessions, **results}
        args.json.write_text(json.dumps(doc, indent=2))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
