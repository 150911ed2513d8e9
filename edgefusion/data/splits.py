"""Speakers: naming them on the command line, listing them, splitting clips by them.

A speaker is an actor of one corpus, ``Clip.speaker`` (``"ravdess:01"``): RAVDESS actor 01 and
EmoDB speaker 01 would be two people. Speaker lists (``--actors``, ``--val-actors``,
``--eval-actors``) name them plainly, ``"13-16"`` (the actor of that id in whichever loaded
corpus has it; an id two loaded corpora have must be namespaced), or with their corpus,
``"ravdess:13-16"``, ``"emodb:03,emovo:f1"``. Within a corpus numeric ids compare as numbers
("1", "01" and "001" are one actor) and other ids ignoring case. Splits are speaker-disjoint:
a speaker's clips all land on one side.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from edgefusion.data.corpus import Clip
from edgefusion.errors import EdgefusionError

MAX_LISTED = 12  # speakers listed in a message before the list is cut short


def parse_actors(spec: str | None, option: str = "--actors") -> list[str] | None:
    """``"13,14,15-16"`` -> ``["13", "14", "15", "16"]``; ``"ravdess:1-2,emodb:03"`` ->
    ``["ravdess:1", "ravdess:2", "emodb:03"]``; None (not given) -> None.

    Each comma-separated item stands alone (``"ravdess:1,2"`` is ravdess:1 and a plain 2). A
    given list that names no actor (``""``, ``","``) is an error, not "every actor". Errors name
    ``option``, the flag the list came from.
    """
    if spec is None:
        return None
    out: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        corpus, sep, ids = part.partition(":")
        corpus, ids = corpus.strip().lower(), ids.strip()
        if not sep:
            corpus, ids = "", part
        elif not corpus or not ids:
            raise EdgefusionError(f"{option}: '{part}' is not CORPUS:ACTORS (e.g. 'ravdess:13-16' or 'emodb:03')")
        prefix = f"{corpus}:" if corpus else ""
        lo, dash, hi = ids.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            if int(hi) < int(lo):
                raise EdgefusionError(f"{option}: actor range '{part}' runs backwards")
            out.extend(f"{prefix}{i}" for i in range(int(lo), int(hi) + 1))
        else:
            out.append(f"{prefix}{ids}")
    if not out:
        raise EdgefusionError(f"{option} {spec!r} names no actor (e.g. '13-16', '1,3,5' or 'ravdess:13-16')")
    return out


def _key(actor: str) -> str:
    """Actor ids compare as numbers when numeric, so "1", "01" and "001" are one actor; others ignore case."""
    return str(int(actor)) if actor.isdigit() else actor.casefold()


def _corpus_key(name: str) -> str:
    """Corpus names compare without case or punctuation: "CREMA-D", "cremad" and "crema-d" are one."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _speaker_order(clip: Clip) -> tuple[str, int, str]:
    return clip.corpus, len(clip.actor), clip.actor


def ordered_speakers(clips: Iterable[Clip]) -> list[str]:
    """The clips' namespaced speakers (``"emodb:03"``), once each: by corpus, then as numbered."""
    first = {c.speaker: c for c in clips}
    return [c.speaker for c in sorted(first.values(), key=_speaker_order)]


def speaker_names(clips: Iterable[Clip]) -> list[str]:
    """The clips' speakers, sorted: plain actor ids when they all come from one corpus, else
    namespaced (``"emodb:03"``), so a single corpus reads as it always has."""
    first = {c.speaker: c for c in clips}
    ordered = sorted(first.values(), key=_speaker_order)
    if len({c.corpus for c in ordered}) <= 1:
        return [c.actor for c in ordered]
    return [c.speaker for c in ordered]


def describe_speakers(clips: Iterable[Clip]) -> str:
    """The clips' speakers for a message: consecutive numeric runs as ranges ("1001-1091"),
    namespaced when they come from several corpora, cut short past ``MAX_LISTED`` items."""
    by_corpus: dict[str, dict[str, str]] = defaultdict(dict)
    for clip in clips:
        by_corpus[clip.corpus].setdefault(_key(clip.actor), clip.actor)
    prefixed = len(by_corpus) > 1
    items: list[str] = []
    for corpus in sorted(by_corpus):
        actors = sorted(by_corpus[corpus].values(), key=lambda a: (not a.isdigit(), int(a) if a.isdigit() else 0, a))
        runs: list[list[str]] = []
        for actor in actors:
            last = runs[-1][-1] if runs else None
            if last is not None and last.isdigit() and actor.isdigit() and int(actor) == int(last) + 1:
                runs[-1].append(actor)
            else:
                runs.append([actor])
        for run in runs:
            pieces = [f"{run[0]}-{run[-1]}"] if len(run) >= 3 else run
            items.extend(f"{corpus}:{p}" if prefixed else p for p in pieces)
    if len(items) > MAX_LISTED:
        return f"{', '.join(items[: MAX_LISTED - 2])}, ... ({len(items)} items)"
    return ", ".join(items)


def resolve_speakers(
    clips: Sequence[Clip], actors: Iterable[str], source: str = "DATA", option: str | None = None
) -> set[str]:
    """The ``Clip.speaker`` of every name in ``actors`` (``parse_actors``' output).

    One-line errors: a name no loaded corpus has (listing the speakers present), a namespace
    that is no loaded corpus, a plain id that two loaded corpora have.
    """
    index: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for clip in clips:
        index[clip.corpus][_key(clip.actor)].add(clip.speaker)
    given = f" given by {option}" if option else ""
    found: set[str] = set()
    missing: list[str] = []
    for name in dict.fromkeys(actors):  # in order, once each
        corpus, sep, actor = name.partition(":")
        if sep:
            owners = [c for c in sorted(index) if _corpus_key(c) == _corpus_key(corpus)]
            if not owners:
                loaded = ", ".join(sorted(index)) or "none"
                problem = f"no loaded corpus is called '{corpus}' ({name}{given}; loaded: {loaded})"
                raise EdgefusionError(f"{source}: {problem}")
        else:
            actor = name
            owners = [c for c in sorted(index) if _key(actor) in index[c]]
            if len(owners) > 1:
                either = " or ".join(f"{c}:{actor}" for c in owners)
                raise EdgefusionError(
                    f"{source}: actor {actor}{given} is in {' and '.join(owners)}: name one, e.g. {either}"
                )
        hits = index[owners[0]].get(_key(actor)) if owners else None
        if hits:
            found |= hits
        else:
            missing.append(name)
    if missing:
        raise EdgefusionError(
            f"{source}: no clips of actor(s) {', '.join(missing)}{given} (actors present: {describe_speakers(clips)})"
        )
    return found


def select_actors(
    clips: Sequence[Clip], actors: Iterable[str], source: str = "DATA", option: str | None = None
) -> list[Clip]:
    """The clips of the named actors (plain or namespaced); an actor with no clips is an error."""
    wanted = resolve_speakers(clips, actors, source, option)
    return [c for c in clips if c.speaker in wanted]


def split_by_actor(
    clips: Sequence[Clip],
    val_actors: Iterable[str] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    source: str = "DATA",
) -> tuple[list[Clip], list[Clip]]:
    """(train, val): the named validation speakers, or a seeded ``val_fraction`` of the speakers.

    The fraction is drawn per corpus, in corpus-name order from one ``random.Random(seed)``:
    ``max(1, round(n * val_fraction))`` of a corpus's n speakers, so a single corpus splits
    exactly as it did before there were several. With several corpora each corpus of at least 2
    speakers gives at least one validation speaker and keeps at least one training speaker, and
    a corpus of one speaker is trained on (should every corpus have one, the fraction is drawn
    over all speakers). ``val_fraction == 0`` with no named actors gives an empty validation set.
    """
    groups: dict[str, dict[str, str]] = defaultdict(dict)  # corpus -> actor key -> speaker
    for clip in clips:
        groups[clip.corpus].setdefault(_key(clip.actor), clip.speaker)
    if val_actors is not None:
        val = resolve_speakers(clips, val_actors, source, "--val-actors")
    else:
        if not 0.0 <= val_fraction < 1.0:
            raise EdgefusionError(f"--val-fraction must be in [0, 1), got {val_fraction}")
        rng = random.Random(seed)
        val = set()
        for corpus in sorted(groups):
            keys = sorted(groups[corpus], key=lambda a: (len(a), a))
            n_val = max(1, round(len(keys) * val_fraction)) if val_fraction > 0 else 0
            if len(groups) > 1:
                n_val = min(n_val, len(keys) - 1)
            val |= {groups[corpus][k] for k in rng.sample(keys, n_val)}
        if val_fraction > 0 and not val:  # several corpora, one speaker each
            everyone = sorted(s for g in groups.values() for s in g.values())
            val = set(rng.sample(everyone, max(1, round(len(everyone) * val_fraction))))
    if val and len(val) == len({c.speaker for c in clips}):
        raise EdgefusionError(f"{source}: every actor is in the validation split; nothing left to train on")
    train = [c for c in clips if c.speaker not in val]
    held = [c for c in clips if c.speaker in val]
    return train, held
