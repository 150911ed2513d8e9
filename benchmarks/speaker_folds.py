"""The recipe beside the yardstick on speaker-disjoint folds, each trained and scored as a user would.

    .venv/bin/python benchmarks/speaker_folds.py DATA [DATA ...] [--folds 4 [--fold-corpus ravdess] | --test SPEC ...]
        [--train SPEC] [--seeds 0,1] [--jobs 2] [--threads 1] [--train-arg=--epochs=20 ...]
        [--no-yardstick | --yardstick-epochs 40] [--out DIR] [--json out.json]

One test group of four speakers says little about a recipe: on 176 clips a seed moves the score
by ten points, and the speakers held out decide as much. This script holds groups of speakers
out in turn. The groups are --folds contiguous groups of one corpus's speakers (--fold-corpus,
default the first DATA's), or come from --test (repeatable). Each group is trained without: by
default on every other speaker of every DATA; --train names the training speakers instead (e.g.
``--train ravdess:1-16 --test emodb:3,emodb:8-16`` trains on RAVDESS alone and scores EmoDB: a
cross-corpus row). For each group and seed it runs exactly what a user runs,

    edgefusion train DATA... --actors <training speakers> --seed S --out DIR/<run>.pt [--train-arg ...]
    edgefusion eval DIR/<run>.pt DATA... --actors <the group> --adapt --json DIR/<run>.eval.json

and, on the same training and test speakers, the yardstick (``benchmarks/yardstick.py``, a plain
audio-only CNN trained on every training speaker, scored on whole clips, with its own
speaker-centred counterpart of ``--adapt``). Only the DATA folders holding training (or test)
speakers are given to each command. The table shows each run's fused accuracy and macro-F1,
unadapted and speaker-adapted, recipe and yardstick side by side, with the means and the
recipe's lead; a group spanning several corpora (``--test emodb:3-11,emovo:f1``) also gets a row
per corpus, and per-corpus means. --jobs runs that many commands at once, each on --threads (default: the cores
shared out); a run's figures depend on the thread count, which changes the order of float32
sums. A run whose JSON is already in --out is read, not run again: an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script yardstick.py
from yardstick import at_least_one, parse_seeds

from edgefusion.data.corpora import Corpus, clips_of, load_corpora
from edgefusion.data.splits import ordered_speakers, parse_actors
from edgefusion.errors import EdgefusionError, require_writable

EDGEFUSION = [sys.executable, "-m", "edgefusion"]
YARDSTICK = [sys.executable, str(Path(__file__).resolve().parent / "yardstick.py")]
METRICS = ("accuracy", "macro_f1", "adapted", "adapted_f1")


@dataclass
class Run:
    name: str
    test: list[str]  # namespaced speakers scored
    train: list[str]  # namespaced speakers given to `train` (it holds some out to choose the epoch)
    seed: int
    recipe: dict[str, float] = field(default_factory=dict)  # METRICS
    yardstick: dict[str, float] = field(default_factory=dict)
    val_actors: list[str] | None = None
    train_seconds: float | None = None
    yardstick_seconds: float | None = None
    # a group over several corpora: {corpus: {"recipe": METRICS, "yardstick": METRICS}}
    per_corpus: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def folds_of(speakers: list[str], k: int) -> list[list[str]]:
    """``speakers`` in order, cut into ``k`` contiguous groups whose sizes differ by at most one."""
    if not 2 <= k <= len(speakers):
        raise EdgefusionError(f"--folds {k}: need 2 to {len(speakers)} folds for {len(speakers)} speakers")
    size, extra = divmod(len(speakers), k)
    out, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        out.append(speakers[start:end])
        start = end
    return out


def speakers_of(corpora: list[Corpus], spec: str | None, option: str) -> list[str]:
    """The namespaced speakers ``spec`` names (all when None), in corpus order, then as numbered."""
    return ordered_speakers(clips_of(corpora, spec, option))


def plan(corpora: list[Corpus], args: argparse.Namespace, seeds: list[int]) -> list[Run]:
    everyone = speakers_of(corpora, None, "DATA")
    if args.test:
        groups = [speakers_of(corpora, t, "--test") for t in args.test]
    else:
        name = args.fold_corpus or corpora[0].name
        if name not in {c.name for c in corpora}:
            loaded = ", ".join(c.name for c in corpora)
            raise EdgefusionError(f"--fold-corpus {name}: no such corpus among DATA ({loaded})")
        groups = folds_of([s for s in everyone if s.startswith(f"{name}:")], args.folds)
    pool = speakers_of(corpora, args.train, "--train") if args.train else everyone
    runs = []
    for group in groups:
        train = [s for s in pool if s not in group]
        if args.train and len(train) < len(pool):
            both = sorted(set(pool) & set(group))
            raise EdgefusionError(f"speaker(s) {', '.join(both)} in both --train and --test")
        if not train:
            raise EdgefusionError(f"no training speaker left for the group {group[0]}..{group[-1]}")
        label = f"{group[0]}-{group[-1]}".replace(":", "")
        for seed in seeds:
            runs.append(Run(f"test-{label}-seed{seed}", group, train, seed))
    return runs


def folders(corpora: list[Corpus], speakers: list[str]) -> list[str]:
    names = {s.partition(":")[0] for s in speakers}
    return [str(c.data) for c in corpora if c.name in names]


def execute(run: Run, corpora: list[Corpus], args: argparse.Namespace, threads: int, console: Console) -> Run:
    out: Path = args.out
    model, report = out / f"{run.name}.pt", out / f"{run.name}.eval.json"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    train_data, test_data = folders(corpora, run.train), folders(corpora, run.test)
    train_spec, test_spec = ",".join(run.train), ",".join(run.test)
    if not report.exists():
        train = [*EDGEFUSION, "train", *train_data, "--actors", train_spec, "--seed", str(run.seed)]
        call([*train, "--out", str(model), *args.train_arg], env, out / f"{run.name}.train.log")
        score = [*EDGEFUSION, "eval", str(model), *test_data, "--actors", test_spec, "--adapt"]
        call([*score, "--json", str(report)], env, out / f"{run.name}.eval.log")
    scores = json.loads(report.read_text())
    run.recipe = metrics(scores["fused"], scores.get("speaker_adapted", {}).get("fused", {}))
    for corpus, e in scores.get("per_corpus", {}).items():
        run.per_corpus.setdefault(corpus, {})["recipe"] = metrics(e["fused"], e.get("fused, speaker-adapted", {}))
    summary = model.with_suffix(".json")
    if summary.exists():
        trained = json.loads(summary.read_text())
        run.val_actors, run.train_seconds = trained["val_actors"], trained["seconds"]
    if args.yardstick:
        yard = out / f"{run.name}.yardstick.json"
        if not yard.exists():
            data = list(dict.fromkeys(train_data + test_data))
            cmd = [*YARDSTICK, *data, "--train", train_spec, "--test", test_spec, "--seeds", str(run.seed)]
            cmd += ["--epochs", str(args.yardstick_epochs)]
            call([*cmd, "--threads", str(threads), "--json", str(yard)], env, out / f"{run.name}.yardstick.log")
        r = json.loads(yard.read_text())["runs"][0]
        run.yardstick = metrics(r["unadapted"], r["adapted"])
        for corpus, e in r.get("per_corpus", {}).items():
            run.per_corpus.setdefault(corpus, {})["yardstick"] = metrics(e["unadapted"], e["adapted"])
        run.yardstick_seconds = r["train_seconds"]
    yard_text = f", yardstick {run.yardstick['accuracy']:.1%}" if run.yardstick else ""
    console.print(f"{run.name}: recipe {run.recipe['accuracy']:.1%}{yard_text}")
    return run


def metrics(plain: dict[str, Any], adapted: dict[str, Any]) -> dict[str, float]:
    """METRICS from one scorer's unadapted and speaker-adapted figures (``accuracy``, ``macro_f1``)."""
    return {
        "accuracy": plain["accuracy"],
        "macro_f1": plain["macro_f1"],
        "adapted": adapted.get("accuracy"),
        "adapted_f1": adapted.get("macro_f1"),
    }


def call(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        lines = log.read_text().strip().splitlines() or ["no output"]
        raise EdgefusionError(f"{Path(cmd[1]).name} {cmd[2] if len(cmd) > 2 else ''} failed ({lines[-1]}); see {log}")


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Mean of each metric over the runs, per network; ``lead``: recipe minus yardstick.

    Where a group spans several corpora, ``per_corpus`` holds the same summary for each corpus.
    """
    out = means_of([(r.recipe, r.yardstick) for r in runs])
    corpora = sorted({c for r in runs for c in r.per_corpus})
    if corpora:
        out["per_corpus"] = {}
        for c in corpora:
            figures = [r.per_corpus[c] for r in runs if c in r.per_corpus]
            out["per_corpus"][c] = means_of([(f.get("recipe", {}), f.get("yardstick", {})) for f in figures])
    return out


def means_of(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> dict[str, dict[str, float]]:
    """(recipe, yardstick) figures per run -> {"recipe": means, "yardstick": means, "lead": ...}."""
    out: dict[str, dict[str, float]] = {}
    for i, network in enumerate(("recipe", "yardstick")):
        means = {}
        for key in METRICS:
            values = [pair[i].get(key) for pair in pairs]
            values = [v for v in values if v is not None]
            if values:
                means[key] = sum(values) / len(values)
        if means:
            out[network] = means
    if "yardstick" in out:
        out["lead"] = {k: out["recipe"][k] - out["yardstick"][k] for k in out["recipe"] if k in out["yardstick"]}
    return out


def table(runs: list[Run], summary: dict[str, Any]) -> Table:
    t = Table(title="fused accuracy and macro-F1 (adapted: speaker-centred)", title_justify="left")
    t.add_column("test speakers")
    t.add_column("seed", justify="right")
    for network in ("recipe", "yardstick"):
        for col in ("accuracy", "F1", "adapted", "adapted F1"):
            t.add_column(f"{network} {col}", justify="right")

    def cells(m: dict[str, Any]) -> list[str]:
        out = []
        for key in METRICS:
            v = m.get(key)
            out.append("-" if v is None else (f"{v:.1%}" if "f1" not in key else f"{v:.3f}"))
        return out

    def means(label: str, s: dict[str, dict[str, float]]) -> None:
        t.add_row(label, "", *cells(s.get("recipe", {})), *cells(s.get("yardstick", {})))
        if "lead" in s:
            lead = s["lead"]
            points = [f"{lead[k] * 100:+.1f} pt" if "f1" not in k else f"{lead[k]:+.3f}" for k in METRICS if k in lead]
            t.add_row(f"{label}: recipe - yardstick", "", *points)

    for r in runs:
        t.add_row(f"{r.test[0]}..{r.test[-1]}", str(r.seed), *cells(r.recipe), *cells(r.yardstick))
        for corpus, figures in r.per_corpus.items():
            t.add_row(f"  {corpus}", "", *cells(figures.get("recipe", {})), *cells(figures.get("yardstick", {})))
    means("mean", summary)
    for corpus, s in summary.get("per_corpus", {}).items():
        means(f"mean {corpus}", s)
    return t


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("data", nargs="+", type=Path, help="corpus folders")
    p.add_argument("--folds", type=int, default=4, help="contiguous groups of --fold-corpus's speakers")
    p.add_argument("--fold-corpus", help="the corpus whose speakers are folded [default: the first DATA's]")
    p.add_argument("--test", action="append", help="a test group instead of --folds, e.g. ravdess:13-16 (repeatable)")
    p.add_argument("--train", help="the training speakers [default: every speaker not in the group]")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds, each run on every group")
    p.add_argument("--jobs", type=int, default=1, help="commands at once")
    p.add_argument("--threads", type=int, help="threads per command [default: cores / jobs]")
    p.add_argument("--train-arg", action="append", default=[], help="passed to `edgefusion train` (repeatable)")
    p.add_argument("--no-yardstick", dest="yardstick", action="store_false", help="the recipe alone")
    p.add_argument("--yardstick-epochs", type=int, default=40, help="the yardstick's epochs [default: 40, its recipe]")
    p.add_argument("--out", type=Path, default=Path("speaker-folds"), help="folder for models, logs, reports")
    p.add_argument("--json", type=Path, help="write every run and the summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console(stderr=True, soft_wrap=True)
    try:
        at_least_one("--jobs", args.jobs)
        at_least_one("--threads", args.threads)
        at_least_one("--yardstick-epochs", args.yardstick_epochs)
        seeds = parse_seeds(args.seeds)
        for option, spec in [*(("--test", t) for t in args.test or []), ("--train", args.train)]:
            parse_actors(spec, option)  # a malformed list fails here, before any corpus is read
        if args.json is not None:
            require_writable(args.json)
        corpora = load_corpora(args.data)
        runs = plan(corpora, args, seeds)
        args.out.mkdir(parents=True, exist_ok=True)
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
        console.print(f"{len(runs)} runs, {args.jobs} at a time on {threads} thread(s) each, in {args.out}")
        # recipe and yardstick of a run are one job: they run one after the other
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda r: execute(r, corpora, args, threads, console), runs))
    except EdgefusionError as e:
        console.print(f"error: {e}", markup=False, highlight=False)
        return 1
    summary = summarise(done)
    Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200).print(table(done, summary))  # a log: whole
    if args.json is not None:
        record = {"data": [str(d) for d in args.data], "train_args": args.train_arg, "jobs": args.jobs}
        record |= {"threads": threads, "runs": [asdict(r) for r in done], "summary": summary}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
