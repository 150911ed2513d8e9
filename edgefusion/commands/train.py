"""``edgefusion train``: one or several corpora to a checkpoint and its summary."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from edgefusion.commands.reports import print_corpus_summaries, print_warnings
from edgefusion.config import ModelConfig, TrainConfig
from edgefusion.data.corpora import check_classes, clips_of, corpora_source, load_corpora
from edgefusion.data.splits import parse_actors, resolve_speakers, speaker_names, split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs, claim

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class TrainSettings:
    """What ``edgefusion train`` is asked to do (cli.py builds it from the command line)."""

    datas: tuple[Path, ...]  # one folder per corpus
    out_path: Path
    epochs: int | None
    seed: int
    actors: str | None
    val_actors: str | None
    val_fraction: float | None
    batch_size: int | None
    lr: float | None
    calm_as_neutral: bool
    cache_dir: Path | None
    teachers: Sequence[Path] = ()
    window_seconds: float | None = None
    nproc: int = 1  # processes under torchrun (DistributedDataParallel)


TORCHRUN = ("-m", "torch.distributed.run", "--standalone")


def _without_nproc(args: list[str]) -> list[str]:
    """The command line less its --nproc (torchrun's parser would take it for --nproc-per-node;
    the processes learn their number from WORLD_SIZE)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _launch(nproc: int, err: Console) -> None:
    """Run this very command line again under torchrun, ``nproc`` processes; exit with its status."""
    import subprocess
    import sys

    cmd = [sys.executable, *TORCHRUN, f"--nproc-per-node={nproc}", "-m", "edgefusion", *_without_nproc(sys.argv[1:])]
    err.print(f"training in {nproc} processes: {' '.join(cmd[1:])}")
    # the cores shared out (torchrun would set 1 and print a banner saying so)
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
    code = subprocess.run(cmd, check=False, env={**os.environ, "OMP_NUM_THREADS": threads}).returncode
    if code != 0:
        raise EdgefusionError(f"torchrun exited {code}: the processes' own lines above say why")


def _check_nproc(nproc: int, batch_size: int, clips: int) -> None:
    """One line when the data cannot give every process a share of each batch."""
    if nproc > batch_size:
        raise EdgefusionError(
            f"--nproc {nproc} is more than --batch-size {batch_size}: each process takes a share of every batch"
        )
    if nproc > clips:
        raise EdgefusionError(f"--nproc {nproc} is more than the {clips} training clips")


def run(s: TrainSettings, err: Console, out: Console) -> None:
    """Train on one or several corpora. ``--actors`` names the speakers to train on (and, without
    ``--val-actors``, to draw the validation speakers from); ``--val-actors`` the validation
    speakers, from every loaded corpus; a speaker named by both is an error."""
    datas, out_path, epochs, seed, actors = s.datas, s.out_path, s.epochs, s.seed, s.actors
    val_actors, val_fraction, batch_size, lr = s.val_actors, s.val_fraction, s.batch_size, s.lr
    calm_as_neutral, cache_dir, teachers = s.calm_as_neutral, s.cache_dir, s.teachers
    window_seconds = s.window_seconds
    from edgefusion.train import dist_from_env, train

    worker = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1  # started by torchrun
    if s.nproc < 1:
        raise EdgefusionError(f"--nproc must be at least 1, got {s.nproc}")
    nproc = int(os.environ["WORLD_SIZE"]) if worker else s.nproc
    if worker and os.environ.get("RANK", "0") != "0":  # rank 0 speaks for them all
        err = out = Console(quiet=True)

    tcfg = TrainConfig(seed=seed)
    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "val_fraction": val_fraction}
    for name, value in overrides.items():
        if value is not None:
            if name != "val_fraction" and value <= 0:
                raise EdgefusionError(f"--{name.replace('_', '-')} must be positive, got {value}")
            tcfg = replace(tcfg, **{name: value})
    if window_seconds is not None and not 0.5 <= window_seconds <= 10:
        raise EdgefusionError(f"--window-seconds must be between 0.5 and 10, got {window_seconds:g}")
    # before the corpora are read and the model trained: the checkpoint and its summary beside it
    check_outputs(
        [("--out", out_path), ("the training summary", out_path.with_suffix(".json"))],
        inputs=[("--teacher", t) for t in teachers],
        input_folders=datas,
    )
    # a second training to the same --out is refused from the start (torchrun's processes run
    # under the claim of the command that started them)
    with nullcontext() if worker else claim(out_path):
        from edgefusion.model.checkpoint import load_checkpoint

        teacher_models = [load_checkpoint(path)[0] for path in teachers]  # one-line errors before any training
        corpora = load_corpora(datas, calm_as_neutral)
        source = corpora_source(corpora)
        clips = clips_of(corpora, actors)
        val = parse_actors(val_actors, "--val-actors")
        if val is not None and actors is not None:  # validation speakers come from every corpus, not only --actors
            everything = clips_of(corpora, None)
            held = resolve_speakers(everything, val, source, "--val-actors")
            shared = [c for c in clips if c.speaker in held]
            if shared:
                raise EdgefusionError(
                    f"--actors and --val-actors share {', '.join(speaker_names(shared))}: --actors names the speakers "
                    "to train on, --val-actors those to validate on (never trained on); name each in one of them"
                )
            chosen = held | {c.speaker for c in clips}
            clips = [c for c in everything if c.speaker in chosen]
        train_clips, val_clips = split_by_actor(clips, val, tcfg.val_fraction, seed, source)
        if nproc > 1:
            _check_nproc(nproc, tcfg.batch_size, len(train_clips))
        print_warnings(err, check_classes(corpora, clips, train_clips))
        if len(corpora) > 1:
            print_corpus_summaries(corpora, clips, err)
        cfg = ModelConfig() if window_seconds is None else ModelConfig(window_seconds=window_seconds)
        data_name = os.pathsep.join(str(c.data.resolve()) for c in corpora)  # several: joined like $PATH
        if nproc > 1 and not worker:
            _launch(nproc, err)
            return
        store = ClipStore(cfg, cache_dir)
        dist = dist_from_env()
        result = train(train_clips, val_clips, out_path, cfg, tcfg, store, err, data_name, teacher_models, dist)
        if result is None:  # a rank other than 0: rank 0 writes and reports
            return
    out.print(
        f"wrote {result.checkpoint} (best epoch {result.best_epoch}, {result.seconds:.0f} s) and {result.summary_path}"
    )
    if result.val:
        f = result.val["fused"]
        out.print(
            f"validation actors {', '.join(speaker_names(val_clips))}: "
            f"accuracy {f['accuracy']:.1%}, macro-F1 {f['macro_f1']:.3f}"
        )
