"""What each CLI verb does, kept apart from argument parsing so it can be called and tested."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgefusion.atomic import write_text_atomic
from edgefusion.config import REFERENCE_KEY, ModelConfig, TrainConfig
from edgefusion.data.corpus import CORPUS_TITLES, Clip, corpus_summary, find_layout, scan_corpus
from edgefusion.data.splits import parse_actors, resolve_speakers, select_actors, speaker_names, split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.errors import DataError, EdgefusionError, located
from edgefusion.labels import CLASS_NAMES, CLASSES
from edgefusion.metrics import Scores
from edgefusion.outputs import check_outputs, claim
from edgefusion.wording import plural

if TYPE_CHECKING:
    from edgefusion.evaluate import ClipPredictions
    from edgefusion.model.network import EmotionNet


@dataclass(frozen=True)
class Corpus:
    """One DATA folder as read: the folder given, the folder holding its layout, its clips."""

    data: Path  # as given on the command line
    folder: Path  # the folder holding the layout (DATA or the one corpus folder in it), resolved
    name: str  # Clip.corpus: "crema-d", "ravdess", "emodb", "emovo", "tess"
    clips: list[Clip]


def load_corpora(datas: Path | Sequence[Path], calm_as_neutral: bool = False) -> list[Corpus]:
    """Every DATA folder's clips, in the order given.

    One-line errors, before any clip is read: a folder of no known layout, the same folder
    twice (by another path or a link too), two folders of one corpus (their speaker ids would
    collide: RAVDESS's Actor_01 of both would be one speaker).
    """
    paths = [Path(datas)] if isinstance(datas, (str, Path)) else [Path(d) for d in datas]
    if not paths:
        raise EdgefusionError("give at least one DATA folder")
    found: list[tuple[Path, str, Path]] = []
    for data in paths:
        layout, folder = find_layout(data)
        for other, corpus, other_folder in found:
            if folder.resolve() == other_folder.resolve():
                raise DataError(located(data, f"is the same corpus folder as {other}: give each DATA once"))
            if corpus == layout.corpus:
                problem = (
                    f"is a {layout.title} corpus and so is {other}: give one folder per corpus "
                    "(their speaker ids would collide)"
                )
                raise DataError(located(data, problem))
        found.append((data, layout.corpus, folder))
    return [Corpus(data, folder.resolve(), name, scan_corpus(folder, calm_as_neutral)) for data, name, folder in found]


def corpora_source(corpora: Sequence[Corpus]) -> str:
    """The DATA folders as error messages name them."""
    return ", ".join(str(c.data) for c in corpora)


def clips_of(corpora: Sequence[Corpus], actors: str | None, option: str = "--actors") -> list[Clip]:
    """The clips of every corpus, or (``actors`` given) of the speakers ``actors`` names."""
    clips = [clip for corpus in corpora for clip in corpus.clips]
    wanted = parse_actors(actors, option)
    return select_actors(clips, wanted, corpora_source(corpora), option) if wanted else clips


def load_clips(
    datas: Path | Sequence[Path], actors: str | None, calm_as_neutral: bool, option: str = "--actors"
) -> list[Clip]:
    """The clips of one or several corpus folders, or of the speakers ``actors`` names (plain
    "13-16" or namespaced "ravdess:13-16"); one-line errors as ``load_corpora`` and
    ``resolve_speakers`` give them. ``option`` is the flag ``actors`` came from."""
    return clips_of(load_corpora(datas, calm_as_neutral), actors, option)


def check_classes(corpora: Sequence[Corpus], used: Sequence[Clip], train: Sequence[Clip], err: Console) -> None:
    """Several corpora: an error when no corpus has a class among the training clips, a warning
    (naming the folder and the class) for a corpus without clips of a class the others cover.

    A single corpus is left as it always was: a class it lacks is a class the model never sees.
    """
    if len(corpora) < 2:
        return
    trained = {c.label for c in train}
    absent = [f"{CLASSES[i]} ({CLASS_NAMES[i]})" for i in range(len(CLASSES)) if i not in trained]
    if absent:
        raise EdgefusionError(
            f"{corpora_source(corpora)}: no training clip of {', '.join(absent)} in any corpus; "
            "every class needs training clips (check --actors and --val-actors)"
        )
    for corpus in corpora:
        labels = {c.label for c in used if c.corpus == corpus.name}
        if not labels:
            problem = "none of its speakers is used (--actors and --val-actors name none of them)"
        else:
            missing = [CLASSES[i] for i in range(len(CLASSES)) if i not in labels]
            if not missing:
                continue
            problem = f"no clips of {', '.join(missing)} (the other corpora have them)"
        err.print(f"[yellow]warning:[/] {escape(located(corpus.data, problem))}", markup=True, highlight=False)


def run_train(
    datas: Path | Sequence[Path],
    out_path: Path,
    epochs: int | None,
    seed: int,
    actors: str | None,
    val_actors: str | None,
    val_fraction: float | None,
    batch_size: int | None,
    lr: float | None,
    calm_as_neutral: bool,
    cache_dir: Path | None,
    err: Console,
    out: Console,
    teachers: Sequence[Path] = (),
    window_seconds: float | None = None,
) -> None:
    """Train on one or several corpora. ``--actors`` names the speakers to train on (and, without
    ``--val-actors``, to draw the validation speakers from); ``--val-actors`` the validation
    speakers, from every loaded corpus; a speaker named by both is an error."""
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
    folders = [datas] if isinstance(datas, Path) else list(datas)
    # before the corpora are read and the model trained: the checkpoint and its summary beside it
    check_outputs(
        [("--out", out_path), ("the training summary", out_path.with_suffix(".json"))],
        inputs=[("--teacher", t) for t in teachers],
        input_folders=folders,
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
        check_classes(corpora, clips, train_clips, err)
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


def run_eval(
    model_path: Path,
    datas: Path | Sequence[Path],
    actors: str | None,
    json_path: Path | None,
    plot: Path | None,
    hop: float,
    calm_as_neutral: bool,
    cache_dir: Path | None,
    err: Console,
    out: Console,
    adapt: bool = False,
) -> None:
    from rich.progress import Progress

    from edgefusion.adaptation import reference_of
    from edgefusion.evaluate import plot_confusion, predict_adapted, predict_clips
    from edgefusion.runtime.runner import Runner, open_runner

    if hop <= 0:
        raise EdgefusionError(f"--hop must be positive, got {hop}")
    if not model_path.exists():  # before the corpus is scanned and summarised
        raise EdgefusionError(located(model_path, "no such file"))
    folders = [datas] if isinstance(datas, Path) else list(datas)
    check_outputs([("--json", json_path), ("--plot", plot)], inputs=[("MODEL", model_path)], input_folders=folders)
    corpora = load_corpora(datas, calm_as_neutral)
    clips = clips_of(corpora, actors)
    several = [c for c in corpora if any(clip.corpus == c.name for clip in clips)]
    if len(several) > 1:
        print_corpus_summaries(several, clips, err)
    else:
        err.print(corpus_summary(clips))
    with ExitStack() as stack:
        if model_path.suffix == ".pt":
            from edgefusion.model.checkpoint import load_checkpoint  # torch: only a checkpoint needs it

            model: EmotionNet | Runner
            model, ckpt = load_checkpoint(model_path)
            cfg, extra, adaptable = model.cfg, ckpt, True
        else:  # an exported artifact, run by its backend
            model = stack.enter_context(open_runner(model_path))
            cfg, extra, adaptable = model.meta.config, model.meta.extra, model.adaptable
            err.print(f"running {model_path} with {model.description}")
        reference = reference_of(extra, model_path, adaptable) if adapt else None
        store = ClipStore(cfg, cache_dir)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("scoring clips", total=len(clips) * (2 if adapt else 1))
            advance = lambda n: bar.advance(task, n)  # noqa: E731
            adapted, lone = None, 0
            if reference is None:
                preds = predict_clips(model, clips, store, hop, progress=advance)
            else:  # and again, each clip centred on its speaker's other clips
                preds, adapted, shifts = predict_adapted(model, clips, store, reference, hop, progress=advance)
                # clips with audio whose speaker has no other such clip: nothing to centre on
                assert preds.embedding_counts is not None  # leave_one_out_shifts raised otherwise
                lone = int(((preds.embedding_counts > 0) & ~shifts.any(axis=1)).sum())
    plain = preds.scores()
    adapted_scores = {k: s for k, s in adapted.scores().items() if k != "video"} if adapted is not None else {}
    scores = plain | {f"{k}, speaker-adapted": s for k, s in adapted_scores.items()}
    for name, s in scores.items():
        print_scores(out, name, s)
    per_corpus = corpus_scores(several, clips, preds, adapted) if len(several) > 1 else None
    if per_corpus is not None:
        print_corpus_scores(out, per_corpus)
    if adapted is not None:
        speakers = len({c.speaker for c in clips})
        out.print(
            "speaker-adapted: each clip's audio embedding centred on its speaker's other clips "
            f"({plural(speakers, 'speaker')}; the mean of their windows, labels unused), against the training "
            "clips' mean"
        )
        if lone:
            out.print(
                f"{lone} of {plural(len(clips), 'clip')} scored unadapted in those figures: their speaker has no "
                "other clip with audio to centre them on"
            )
    if json_path is not None:
        report: dict[str, Any] = {
            "model": str(model_path),
            "data": str(corpora[0].data) if len(corpora) == 1 else [str(c.data) for c in corpora],
            "actors": speaker_names(clips),
            "hop_seconds": hop,
            "scoring": "window probabilities averaged over the clip",
            **{k: s.to_dict() for k, s in plain.items()},
        }
        if adapted is not None:
            report["speaker_adapted"] = {
                "enrolment": "each clip centred on the windows of its speaker's other clips (labels unused)",
                "unadapted_clips": lone,
                **{k: s.to_dict() for k, s in adapted_scores.items()},
            }
        if per_corpus is not None:
            report["per_corpus"] = per_corpus
        write_text_atomic(json_path, json.dumps(report, indent=2))
        out.print(f"wrote {json_path}")
    if plot is not None:
        plot_confusion(scores, plot, f"{model_path.name} on {' + '.join(c.data.name for c in corpora)}")
        out.print(f"wrote {plot}")


def corpus_scores(
    corpora: Sequence[Corpus], clips: Sequence[Clip], preds: ClipPredictions, adapted: ClipPredictions | None
) -> dict[str, dict[str, Any]]:
    """Per corpus: its folder, clips, speakers and fused scores (and speaker-adapted ones)."""
    from edgefusion.evaluate import corpus_scores as fused_by_corpus

    scored = {"fused": fused_by_corpus(preds, clips)}
    if adapted is not None:
        scored["fused, speaker-adapted"] = fused_by_corpus(adapted, clips)
    report: dict[str, dict[str, Any]] = {}
    for corpus in corpora:
        entry: dict[str, Any] = {
            "data": str(corpus.data),
            "clips": sum(c.corpus == corpus.name for c in clips),
            "actors": speaker_names(c for c in clips if c.corpus == corpus.name),
        }
        for key, by_corpus in scored.items():
            entry[key] = by_corpus[corpus.name].to_dict()
        report[corpus.name] = entry
    return report


def print_corpus_summaries(corpora: Sequence[Corpus], clips: Sequence[Clip], err: Console) -> None:
    """One line per corpus: its name, folder and ``corpus_summary`` of its clips among ``clips``."""
    for corpus in corpora:
        mine = [c for c in clips if c.corpus == corpus.name]
        err.print(f"{CORPUS_TITLES[corpus.name]} {corpus.data}: {corpus_summary(mine)}")


def print_corpus_scores(out: Console, per_corpus: dict[str, dict[str, Any]]) -> None:
    table = Table(title="fused, per corpus", title_justify="left")
    for col in ("corpus", "DATA", "clips", "actors", "accuracy", "macro-F1"):
        table.add_column(col, justify="right" if col in ("clips", "actors", "accuracy", "macro-F1") else "left")
    adapted = any("fused, speaker-adapted" in e for e in per_corpus.values())
    if adapted:
        table.add_column("adapted accuracy", justify="right")
        table.add_column("adapted macro-F1", justify="right")
    for name, e in per_corpus.items():
        row = [CORPUS_TITLES.get(name, name), e["data"], str(e["clips"]), str(len(e["actors"]))]
        for key in ("fused", "fused, speaker-adapted") if adapted else ("fused",):
            row += [f"{e[key]['accuracy']:.1%}", f"{e[key]['macro_f1']:.3f}"]
        table.add_row(*row)
    out.print(table)


def print_scores(out: Console, name: str, s: Scores) -> None:
    table = Table(
        title=f"{name}: {plural(s.n, 'clip')}, accuracy {s.accuracy:.1%}, macro-F1 {s.macro_f1:.3f}",
        title_justify="left",
    )
    table.add_column("true \\ predicted")
    for c in CLASSES:
        table.add_column(c, justify="right")
    table.add_column("recall", justify="right")
    for code, row in zip(CLASSES, s.confusion, strict=True):
        recall = s.recall.get(code)
        table.add_row(code, *(str(v) for v in row), "-" if recall is None else f"{recall:.0%}")
    out.print(table)


def run_info(model_path: Path, out: Console) -> None:
    from edgefusion.runtime.runner import SUFFIX_BACKEND

    backend = SUFFIX_BACKEND.get(model_path.suffix.lower())
    if backend == "onnxruntime":
        _onnx_info(model_path, out)
        return
    if backend == "tensorrt":
        from edgefusion.artifact.sidecar import sidecar_path

        problem = f"info reads checkpoints (.pt) and ONNX; an engine's build record is {sidecar_path(model_path)}"
        raise EdgefusionError(located(model_path, problem))
    if backend is None and model_path.exists():
        raise EdgefusionError(located(model_path, "unknown artifact type (info reads .pt checkpoints and .onnx)"))
    from edgefusion.artifact.contract import contract
    from edgefusion.model.checkpoint import load_checkpoint
    from edgefusion.model.summary import count_macs

    model, meta = load_checkpoint(model_path)
    cfg = model.cfg
    params = sum(p.numel() for p in model.parameters())
    shared = sum(p.numel() for p in model.encoder.trunk.parameters())
    macs = count_macs(model)
    table = Table(
        title=f"{model_path} (edgefusion {meta.get('edgefusion_version')}, format {meta['format_version']})",
        title_justify="left",
        show_header=False,
    )
    table.add_column()
    table.add_column()
    table.add_row("parameters", f"{params:,} ({shared:,} in the shared trunk)")
    table.add_row("size (float32 weights)", f"{params * 4 / 1e6:.2f} MB")
    table.add_row("file size", f"{model_path.stat().st_size / 1e6:.2f} MB")
    for name, value in macs.items():
        table.add_row(f"MACs {name}", f"{value / 1e6:.1f} M")
    table.add_row("classes", ", ".join(meta["classes"]))
    train_meta = meta.get("extra", {}).get("train")
    if train_meta:
        table.add_row(
            "trained on",
            f"{train_meta.get('data')} actors {','.join(train_meta.get('train_actors', []))} "
            f"(best epoch {train_meta.get('best_epoch')})",
        )
    table.add_row("speaker adaptation", _adaptation(meta.get(REFERENCE_KEY), "trained before edgefusion 0.2"))
    out.print(table)
    io = Table(title="input contract", title_justify="left")
    for col in ("tensor", "dtype", "shape", "meaning"):
        io.add_column(col)
    for row in contract(cfg):
        io.add_row(row["name"], row["dtype"], str(row["shape"]), row["meaning"])
    out.print(io)
    out.print("config: " + json.dumps(cfg.to_dict()))


def _adaptation(reference: list[float] | None, why_none: str) -> str:
    """info's "speaker adaptation" row for an artifact that takes a shift: ready, or why not."""
    if reference is None:
        return f"no training reference ({why_none}); train again to use --adapt"
    return f"ready: the training clips' mean audio embedding ({len(reference)} values) for --adapt"


def _onnx_info(path: Path, out: Console) -> None:
    from edgefusion.artifact.contract import SHIFT_INPUT
    from edgefusion.artifact.graph import op_counts
    from edgefusion.artifact.metadata import load_onnx, metadata_of

    model = load_onnx(path)
    meta = metadata_of(model, path)
    table = Table(title=f"{path} (edgefusion {meta.version})", title_justify="left", show_header=False)
    table.add_column()
    table.add_column()
    table.add_row("precision", meta.precision)
    table.add_row("batch", "dynamic" if meta.batch is None else str(meta.batch))
    table.add_row("file size", f"{path.stat().st_size / 1e6:.2f} MB")
    table.add_row("opset", str(model.opset_import[0].version))
    table.add_row("ops", ", ".join(f"{k} {v}" for k, v in sorted(op_counts(model).items())))
    table.add_row("classes", ", ".join(meta.classes))
    for key, value in sorted(meta.extra.items()):
        if key != REFERENCE_KEY:  # D floats: the adaptation row says what they are
            table.add_row(key, json.dumps(value))
    if any(t["name"] == SHIFT_INPUT for t in meta.contract):
        adaptation = _adaptation(meta.extra.get(REFERENCE_KEY), "its checkpoint predates edgefusion 0.2")
    else:
        adaptation = "no: exported before speaker adaptation (edgefusion 0.1); export it again to use --adapt"
    table.add_row("speaker adaptation", adaptation)
    out.print(table)
    io = Table(title="input contract", title_justify="left")
    for col in ("tensor", "dtype", "shape", "meaning"):
        io.add_column(col)
    for row in meta.contract:
        io.add_row(row["name"], row["dtype"], str(row["shape"]), row["meaning"])
    out.print(io)


def run_make_corpus(folder: Path, actors: int, sentences: int, seed: int, video: bool, err: Console) -> None:
    from rich.progress import Progress

    from edgefusion.data.synthetic import check_counts, make_corpus

    check_counts(actors, sentences, seed)  # before the progress bar appears
    with Progress(console=err) as bar:
        task = bar.add_task("writing synthetic clips", total=None)
        summary = make_corpus(
            folder,
            actors=actors,
            sentences=sentences,
            seed=seed,
            video=video,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    err.print(
        f"wrote {plural(summary.clips, 'synthetic clip')} ({plural(summary.actors, 'actor')}, "
        f"{summary.audio_seconds:.0f} s of audio) "
        f"to {summary.path}"
    )
