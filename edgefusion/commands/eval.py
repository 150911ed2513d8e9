"""``edgefusion eval``: any artifact scored on whole clips, per corpus, unadapted and speaker-adapted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from edgefusion.atomic import write_text_atomic
from edgefusion.commands.reports import corpus_scores, print_corpus_scores, print_corpus_summaries, print_scores
from edgefusion.data.corpora import clips_of, load_corpora
from edgefusion.data.corpus import corpus_summary
from edgefusion.data.splits import speaker_names
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs
from edgefusion.wording import plural

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class EvalSettings:
    """What ``edgefusion eval`` is asked to score."""

    model_path: Path
    datas: tuple[Path, ...]  # one folder per corpus
    actors: str | None
    json_path: Path | None
    plot: Path | None
    hop: float
    calm_as_neutral: bool
    cache_dir: Path | None
    adapt: bool = False
    vad: bool = False  # score as the live runtime gates: a window's audio counts only when the VAD hears speech
    vad_backend: str | None = None  # None: the default VAD
    server: str | None = None  # grpc://HOST:PORT: infer there (the artifact gives the contract)
    model_name: str | None = None  # the model's name on the server
    wait: float = 0.0  # seconds to keep trying a server that does not answer at the start


def run(s: EvalSettings, err: Console, out: Console) -> None:
    """Score ``s.model_path`` on whole clips of every DATA: overall, per corpus, and speaker-adapted on ``s.adapt``."""
    model_path, datas, actors, json_path, plot, hop = s.model_path, s.datas, s.actors, s.json_path, s.plot, s.hop
    calm_as_neutral, cache_dir, adapt = s.calm_as_neutral, s.cache_dir, s.adapt
    from rich.progress import Progress

    from edgefusion.adaptation import reference_of
    from edgefusion.evaluate import plot_confusion, predict_adapted, predict_clips
    from edgefusion.runtime.remote_runner import RemoteRunner, check_server
    from edgefusion.runtime.runner import Runner, open_runner
    from edgefusion.runtime.vad import DEFAULT_VAD, open_vad

    vad = open_vad(s.vad_backend or DEFAULT_VAD) if s.vad else None

    if hop <= 0:
        raise EdgefusionError(f"--hop must be positive, got {hop}")
    if s.vad_backend is not None and not s.vad:
        raise EdgefusionError(f"--vad-backend {s.vad_backend} without --vad: add --vad to score with it")
    server = check_server(s.server, None, False, s.wait)
    if not model_path.exists():  # before the corpus is scanned and summarised
        raise EdgefusionError(located(model_path, "no such file"))
    check_outputs([("--json", json_path), ("--plot", plot)], inputs=[("MODEL", model_path)], input_folders=datas)
    corpora = load_corpora(datas, calm_as_neutral)
    clips = clips_of(corpora, actors)
    several = [c for c in corpora if any(clip.corpus == c.name for clip in clips)]
    if len(several) > 1:
        print_corpus_summaries(several, clips, err)
    else:
        err.print(corpus_summary(clips))
    runner: Runner = open_runner(model_path)
    if server is not None:  # the artifact gives the contract, the server's model scores
        runner = RemoteRunner(model_path, server, s.model_name, s.wait)
    with runner as model:  # every artifact, a checkpoint too, through its runner
        cfg, extra, adaptable = model.meta.config, model.meta.extra, model.adaptable
        err.print(f"running {model_path} with {model.description}")
        if model.masked:
            err.print(f"trained on {' and '.join(model.trained)} only: scored without its {' and '.join(model.masked)}")
        if vad is not None and "audio" not in model.trained:
            raise EdgefusionError(located(model_path, "--vad gates the audio, and this model was not trained on it"))
        reference = reference_of(extra, model_path, adaptable) if adapt else None
        store = ClipStore(cfg, cache_dir)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("scoring clips", total=len(clips) * (2 if adapt else 1))
            advance = lambda n: bar.advance(task, n)  # noqa: E731
            adapted, lone = None, 0
            if reference is None:
                preds = predict_clips(model, clips, store, hop, progress=advance, vad=vad)
            else:  # and again, each clip centred on its speaker's other clips
                preds, adapted, shifts = predict_adapted(model, clips, store, reference, hop, progress=advance, vad=vad)
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
    if vad is not None:
        undecided = plain["fused"].undecided
        out.print(
            f"voice activity ({vad.name}): a window's audio counts only when the VAD hears speech in it; "
            f"{plural(undecided, 'clip')} without a voiced window, scored as misses"
        )
    if json_path is not None:
        report: dict[str, Any] = {
            "model": str(model_path),
            "data": str(corpora[0].data) if len(corpora) == 1 else [str(c.data) for c in corpora],
            "actors": speaker_names(clips),
            "hop_seconds": hop,
            "scoring": "window probabilities averaged over the clip",
            "vad": vad.name if vad is not None else None,
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
