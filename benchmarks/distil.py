"""An ensemble of K recipe runs distilled into one network of the deployed size: members, ensemble, student.

    .venv/bin/python benchmarks/distil.py DATA [DATA ...] --test SPEC [--seeds 0,1,2] [--threads 2]
        [--train-arg=--epochs=20 ...] [--out DIR] [--json out.json]

For the test group (speakers in ``--actors`` form, e.g. ravdess:13-16) every other speaker of
every DATA trains K members, one per seed, exactly as ``benchmarks/speaker_folds.py`` trains a
run (same command, same file names, so a study's models in the same --out are reused), then

    edgefusion train DATA... --actors <the same speakers> --teacher DIR/<member 1>.pt ... --out DIR/<student>.pt

trains the student (seed 0) on the same windows with the members' averaged soft targets beside
the labels. Members, the ensemble (their clip probabilities averaged, K times the cost at run
time) and the student (one network, the cost of one member) are scored on the test group's whole
clips like ``edgefusion eval``, unadapted and speaker-adapted (each clip centred on its speaker's
other clips; for the ensemble each member centred on its own reference).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script speaker_folds.py
import speaker_folds

from edgefusion.adaptation import reference_of
from edgefusion.config import SCORING_HOP
from edgefusion.data.corpora import clips_of, load_corpora
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError, require_writable
from edgefusion.evaluate import predict_adapted
from edgefusion.metrics import score
from edgefusion.model.checkpoint import load_checkpoint


def clip_probs(path: Path, clips: list, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """A checkpoint's fused clip probabilities [N, C], unadapted and speaker-adapted."""
    model, meta = load_checkpoint(path)
    plain, adapted, _ = predict_adapted(
        model, clips, ClipStore(model.cfg, cache), reference_of(meta, path), SCORING_HOP
    )
    return plain.probs["fused"], adapted.probs["fused"]


def figures(labels: np.ndarray, plain: np.ndarray, adapted: np.ndarray) -> dict[str, float]:
    s, a = score(labels, plain.argmax(1)), score(labels, adapted.argmax(1))
    return {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "adapted": a.accuracy, "adapted_f1": a.macro_f1}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("data", nargs="+", type=Path, help="corpus folders")
    p.add_argument("--test", required=True, help="the test speakers, e.g. ravdess:13-16")
    p.add_argument("--seeds", default="0,1,2", help="one member per seed [default: 0,1,2]")
    p.add_argument("--threads", type=int, help="threads per command [default: all cores]")
    p.add_argument("--train-arg", action="append", default=[], help="passed to every `edgefusion train`")
    p.add_argument("--cache-dir", type=Path, help="edgefusion's clip cache [default: its own]")
    p.add_argument("--out", type=Path, default=Path("distil"), help="folder for models and logs")
    p.add_argument("--json", type=Path, help="write every figure here")
    args = p.parse_args(argv)
    try:
        seeds = speaker_folds.parse_seeds(args.seeds)
        speaker_folds.at_least_one("--threads", args.threads)
        if len(seeds) < 2:
            raise EdgefusionError("--seeds: an ensemble needs at least two members")
        if args.json is not None:
            require_writable(args.json)
        corpora = load_corpora(args.data)
        folds = speaker_folds.parse([*map(str, args.data), "--test", args.test, "--seeds", args.seeds])
        runs = speaker_folds.plan(corpora, folds, seeds)
        args.out.mkdir(parents=True, exist_ok=True)
        threads = args.threads or os.cpu_count() or 1
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        members = []
        for run in runs:
            model = args.out / f"{run.name}.pt"
            if not model.exists():
                cmd = [*speaker_folds.EDGEFUSION, "train", *speaker_folds.folders(corpora, run.train)]
                cmd += ["--actors", ",".join(run.train), "--seed", str(run.seed), "--out", str(model)]
                speaker_folds.call([*cmd, *args.train_arg], env, args.out / f"{run.name}.train.log")
            members.append(model)
            print(f"member {model}", flush=True)
        first = runs[0]
        student = args.out / (first.name.replace(f"-seed{first.seed}", f"-student{len(seeds)}") + ".pt")
        if not student.exists():
            cmd = [*speaker_folds.EDGEFUSION, "train", *speaker_folds.folders(corpora, first.train)]
            cmd += ["--actors", ",".join(first.train), "--seed", "0", "--out", str(student)]
            cmd += [arg for m in members for arg in ("--teacher", str(m))]
            speaker_folds.call([*cmd, *args.train_arg], env, args.out / f"{student.stem}.train.log")
        test = clips_of(corpora, ",".join(first.test), "--test")
        labels = np.array([c.label for c in test])
        rows: dict[str, Any] = {}
        plain_sum, adapted_sum = 0.0, 0.0
        for model in members:
            plain, adapted = clip_probs(model, test, args.cache_dir)
            rows[model.stem] = figures(labels, plain, adapted)
            plain_sum, adapted_sum = plain_sum + plain, adapted_sum + adapted
        rows[f"ensemble of {len(members)}"] = figures(labels, plain_sum, adapted_sum)
        rows[student.stem] = figures(labels, *clip_probs(student, test, args.cache_dir))
    except EdgefusionError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    for name, f in rows.items():
        print(
            f"{name}: accuracy {f['accuracy']:.1%} macro-F1 {f['macro_f1']:.3f}, "
            f"adapted {f['adapted']:.1%} macro-F1 {f['adapted_f1']:.3f}"
        )
    if args.json is not None:
        record = {"data": [str(d) for d in args.data], "test": args.test, "seeds": seeds, "rows": rows}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
