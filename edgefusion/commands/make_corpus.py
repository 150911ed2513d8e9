"""``edgefusion make-corpus``: a small synthetic corpus (CREMA-D layout) for tests and demos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from edgefusion.wording import plural

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class MakeCorpusSettings:
    """The synthetic corpus ``edgefusion make-corpus`` writes."""

    folder: Path
    actors: int
    sentences: int
    seed: int
    video: bool


def run(s: MakeCorpusSettings, err: Console) -> None:
    """Write the synthetic corpus into ``s.folder`` (new, empty, or one make-corpus wrote)."""
    folder, actors, sentences, seed, video = s.folder, s.actors, s.sentences, s.seed, s.video
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
