"""Speaker-disjoint splits: an actor's clips all land on one side."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from edgefusion.data.corpus import Clip
from edgefusion.errors import EdgefusionError


def parse_actors(spec: str | None, option: str = "--actors") -> list[str] | None:
    """``"13,14,15-16"`` -> ``["13", "14", "15", "16"]``; None (not given) -> None.

    A given list that names no actor (``""``, ``","``) is an error, not "every actor". Errors
    name ``option``, the flag the list came from.
    """
    if spec is None:
        return None
    out: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep and lo.isdigit() and hi.isdigit():
            if int(hi) < int(lo):
                raise EdgefusionError(f"{option}: actor range '{part}' runs backwards")
            out.extend(str(i) for i in range(int(lo), int(hi) + 1))
        else:
            out.append(part)
    if not out:
        raise EdgefusionError(f"{option} {spec!r} names no actor (e.g. '13-16' or '1,3,5')")
    return out


def _key(actor: str) -> str:
    """Actor ids compare as numbers when numeric, so "1", "01" and "001" are one actor."""
    return str(int(actor)) if actor.isdigit() else actor


def select_actors(clips: Sequence[Clip], actors: Iterable[str], source: str = "DATA") -> list[Clip]:
    """The clips of the named actors; an actor with no clips is an error."""
    wanted = {_key(a) for a in actors}
    have = {_key(c.actor) for c in clips}
    missing = sorted(wanted - have, key=lambda a: (len(a), a))
    if missing:
        known = ", ".join(sorted({c.actor for c in clips}, key=lambda a: (len(a), a)))
        raise EdgefusionError(f"{source}: no clips of actor(s) {', '.join(missing)} (actors present: {known})")
    return [c for c in clips if _key(c.actor) in wanted]


def split_by_actor(
    clips: Sequence[Clip],
    val_actors: Iterable[str] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    source: str = "DATA",
) -> tuple[list[Clip], list[Clip]]:
    """(train, val): named validation actors, or a seeded ``val_fraction`` of the actors.

    ``val_fraction == 0`` with no named actors gives an empty validation set.
    """
    actors = sorted({_key(c.actor) for c in clips}, key=lambda a: (len(a), a))
    if val_actors is not None:
        val = {_key(c.actor) for c in select_actors(clips, val_actors, source)}
    else:
        if not 0.0 <= val_fraction < 1.0:
            raise EdgefusionError(f"--val-fraction must be in [0, 1), got {val_fraction}")
        n_val = round(len(actors) * val_fraction)
        if val_fraction > 0:
            n_val = max(1, n_val)
        val = set(random.Random(seed).sample(actors, n_val))
    if val and len(val) == len(actors):
        raise EdgefusionError(f"{source}: every actor is in the validation split; nothing left to train on")
    train = [c for c in clips if _key(c.actor) not in val]
    held = [c for c in clips if _key(c.actor) in val]
    return train, held
