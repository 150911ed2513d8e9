"""Corpora as the verbs take them: one DATA folder per corpus, several at once.

``load_corpora`` reads each folder's layout and clips and refuses, in one line, a folder of no
known layout, the same folder twice and two folders of one corpus; ``clips_of`` selects
speakers (plain ``13-16`` or namespaced ``ravdess:13-16``); ``check_classes`` checks that the
training clips cover every class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgefusion.data.corpus import Clip, find_layout, scan_corpus
from edgefusion.data.splits import parse_actors, select_actors
from edgefusion.errors import DataError, EdgefusionError, located
from edgefusion.labels import CLASS_NAMES, CLASSES


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


def check_classes(corpora: Sequence[Corpus], used: Sequence[Clip], train: Sequence[Clip]) -> list[str]:
    """Several corpora: an error when no corpus has a class among the training clips; the
    warnings (one line each, naming the folder and the class) for a corpus without clips of a
    class the others cover.

    A single corpus is left as it always was: a class it lacks is a class the model never sees.
    """
    warnings: list[str] = []
    if len(corpora) < 2:
        return warnings
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
        warnings.append(located(corpus.data, problem))
    return warnings
