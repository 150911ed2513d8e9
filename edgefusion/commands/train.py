"""``edgefusion train``: one or several corpora to a checkpoint and its summary."""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def run(s: TrainSettings, err: Console, out: Console) -> None:
    """Train on one or several corpora. ``--actors`` names the speakers to train on (and, without
    ``--val-actors``, to draw the validation speakers from); ``--val-actors`` the validation
    speakers, from every loaded corpus; a speaker named by both is an error."""
    datas, out_path, epochs, seed, actors = s.datas, s.out_path, s.epochs, s.seed, s.actors
    val_actors, val_fraction, batch_size, lr = s.val_actors, s.val_fraction, s.batch_size, s.lr
    calm_as_neutral, cache_dir, teachers = s.calm_as_neutral, s.cache_dir, s.teachers
    window_seconds = s.window_seconds
    from edgefusion.train import train

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
    with claim(out_path):  # a second training to the same --out is refused from the start
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
        print_warnings(err, check_classes(corpora, clips, train_clips))
        if len(corpora) > 1:
            print_corpus_summaries(corpora, clips, err)
        cfg = ModelConfig() if window_seconds is None else ModelConfig(window_seconds=window_seconds)
        data_name = os.pathsep.join(str(c.data.resolve()) for c in corpora)  # several: joined like $PATH
        store = ClipStore(cfg, cache_dir)
        result = train(train_clips, val_clips, out_path, cfg, tcfg, store, err, data_name, teacher_models)
    out.print(
        f"wrote {result.checkpoint} (best epoch {result.best_epoch}, {result.seconds:.0f} s) and {result.summary_path}"
    )
    if result.val:
        f = result.val["fused"]
        out.print(
            f"validation actors {', '.join(speaker_names(val_clips))}: "
            f"accuracy {f['accuracy']:.1%}, macro-F1 {f['macro_f1']:.3f}"
        )
