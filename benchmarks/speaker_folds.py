"""The recipe on every speaker: speaker-disjoint folds, each trained and scored by the CLI's defaults.

    .venv/bin/python benchmarks/speaker_folds.py [DATA] [--folds 4 | --test 13-16 ...] \
        [--seeds 0,1] [--jobs 2] [--threads 1] [--train-arg=--epochs=20 ...] [--out DIR] [--json out.json]

One test split (actors 13-16) of four speakers says little about the recipe: on 176 clips a
seed moves the score by ten points, and the speakers held out decide as much. This script
holds every speaker out once. The corpus's actors, in order, are cut into --folds contiguous
groups (or the groups come from --test); for each group and each seed it runs exactly what a
user runs,

    edgefusion train DATA --actors <the other actors> --seed S --out DIR/<run>.pt [--train-arg ...]
    edgefusion eval DIR/<run>.pt DATA --actors <the group> --adapt --json DIR/<run>.eval.json

and tabulates each run's fused accuracy and macro-F1 unadapted and speaker-adapted, with the
mean over runs (--json also keeps the range). --jobs runs that many at once, each on its share of the cores
or on --threads (OMP_NUM_THREADS); a run's figures depend on the thread count, which changes
the order of float32 sums. A run whose eval JSON is already in --out is read, not run again:
an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgefusion.data.corpus import scan_corpus
from edgefusion.data.splits import parse_actors, select_actors
from edgefusion.errors import EdgefusionError, require_writable

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech"
EDGEFUSION = [sys.executable, "-m", "edgefusion"]


@dataclass
class Run:
    name: str
    test: list[str]  # the actors scored
    train: list[str]  # the actors given to `train` (it holds some out to choose the epoch)
    seed: int
    fused: float | None = None
    fused_f1: float | None = None
    adapted: float | None = None
    adapted_f1: float | None = None
    val_actors: list[str] | None = None
    train_seconds: float | None = None


def actor_key(actor: str) -> tuple[int, str]:
    """Actors in the order the corpus numbers them (as `edgefusion` lists them: by length, then name)."""
    return (len(actor), actor)


def folds_of(actors: list[str], k: int) -> list[list[str]]:
    """``actors`` in order, cut into ``k`` contiguous groups whose sizes differ by at most one."""
    if not 2 <= k <= len(actors):
        raise EdgefusionError(f"--folds {k}: need 2 to {len(actors)} folds for {len(actors)} actors")
    size, extra = divmod(len(actors), k)
    out, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        out.append(actors[start:end])
        start = end
    return out


def spec(actors: list[str]) -> str:
    return ",".join(actors)


def plan(data: Path, folds: int, tests: list[str] | None, seeds: list[int]) -> list[Run]:
    clips = scan_corpus(data)
    actors = sorted({c.actor for c in clips}, key=actor_key)
    if tests:
        groups = [
            sorted({c.actor for c in select_actors(clips, parse_actors(t, "--test") or [], str(data))}, key=actor_key)
            for t in tests
        ]
    else:
        groups = folds_of(actors, folds)
    runs = []
    for group in groups:
        rest = [a for a in actors if a not in group]
        for seed in seeds:
            runs.append(Run(f"test-{group[0]}-{group[-1]}-seed{seed}", group, rest, seed))
    return runs


def execute(run: Run, data: Path, out: Path, train_args: list[str], threads: int, console: Console) -> Run:
    model, report = out / f"{run.name}.pt", out / f"{run.name}.eval.json"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if not report.exists():
        train = [*EDGEFUSION, "train", str(data), "--actors", spec(run.train), "--seed", str(run.seed)]
        _call([*train, "--out", str(model), *train_args], env, out / f"{run.name}.train.log")
        score = [*EDGEFUSION, "eval", str(model), str(data), "--actors", spec(run.test), "--adapt"]
        _call([*score, "--json", str(report)], env, out / f"{run.name}.eval.log")
    scores = json.loads(report.read_text())
    adapted = scores.get("speaker_adapted", {}).get("fused")
    run.fused, run.fused_f1 = scores["fused"]["accuracy"], scores["fused"]["macro_f1"]
    if adapted is not None:
        run.adapted, run.adapted_f1 = adapted["accuracy"], adapted["macro_f1"]
    summary = model.with_suffix(".json")
    if summary.exists():
        trained = json.loads(summary.read_text())
        run.val_actors, run.train_seconds = trained["val_actors"], trained["seconds"]
    adapted_text = "" if run.adapted is None else f", adapted {run.adapted:.1%}"
    console.print(f"{run.name}: fused {run.fused:.1%}{adapted_text}")
    return run


def _call(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        lines = log.read_text().strip().splitlines() or ["no output"]
        raise EdgefusionError(f"{' '.join(cmd[2:4])} failed ({lines[-1]}); see {log}")


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    out = {}
    for key in ("fused", "fused_f1", "adapted", "adapted_f1"):
        values = [getattr(r, key) for r in runs if getattr(r, key) is not None]
        if values:
            out[key] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
    return out


def table(runs: list[Run], summary: dict[str, dict[str, float]]) -> Table:
    t = Table(title="speaker-disjoint folds (fused output; adapted = eval --adapt)", title_justify="left")
    for col in ("test actors", "seed", "validation actors", "accuracy", "macro-F1", "adapted", "adapted F1"):
        t.add_column(col, justify="right")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    def f1(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for r in runs:
        val = ",".join(r.val_actors) if r.val_actors else "-"
        t.add_row(spec(r.test), str(r.seed), val, pct(r.fused), f1(r.fused_f1), pct(r.adapted), f1(r.adapted_f1))
    s = {k: v["mean"] for k, v in summary.items()}
    t.add_row(
        "mean", "", "", pct(s.get("fused")), f1(s.get("fused_f1")), pct(s.get("adapted")), f1(s.get("adapted_f1"))
    )
    return t


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    p.add_argument("--folds", type=int, default=4, help="contiguous groups of actors, each held out once")
    p.add_argument("--test", action="append", help="a test group instead of --folds, e.g. 13-16 (repeatable)")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds, each run on every group")
    p.add_argument("--jobs", type=int, default=1, help="runs at once")
    p.add_argument("--threads", type=int, help="threads per run [default: cores / jobs]")
    p.add_argument("--train-arg", action="append", default=[], help="passed to `edgefusion train` (repeatable)")
    p.add_argument("--out", type=Path, default=Path("speaker-folds"), help="folder for models, logs, reports")
    p.add_argument("--json", type=Path, help="write every run and the summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console(stderr=True, soft_wrap=True)
    try:
        if args.jobs < 1:
            raise EdgefusionError(f"--jobs must be at least 1, got {args.jobs}")
        if args.threads is not None and args.threads < 1:
            raise EdgefusionError(f"--threads must be at least 1, got {args.threads}")
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            raise EdgefusionError(f"--seeds {args.seeds!r}: give whole numbers, e.g. 0,1,2") from None
        if not args.data.is_dir():
            raise EdgefusionError(f"{args.data}: no such corpus folder")
        if args.json is not None:
            require_writable(args.json)
        runs = plan(args.data, args.folds, args.test, seeds)
        args.out.mkdir(parents=True, exist_ok=True)
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
        console.print(f"{len(runs)} runs, {args.jobs} at a time on {threads} thread(s) each, in {args.out}")
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda r: execute(r, args.data, args.out, args.train_arg, threads, console), runs))
    except EdgefusionError as e:
        console.print(f"error: {e}", markup=False, highlight=False)
        return 1
    summary = summarise(done)
    Console(soft_wrap=True).print(table(done, summary))
    if args.json is not None:
        record = {"data": str(args.data), "train_args": args.train_arg, "jobs": args.jobs, "threads": threads}
        record |= {"runs": [asdict(r) for r in done], "summary": summary}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
