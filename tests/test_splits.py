"""Speaker-disjoint splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefusion.data.corpus import Clip
from edgefusion.data.splits import parse_actors, select_actors, split_by_actor
from edgefusion.errors import EdgefusionError


def corpus(actors: int = 10, per_actor: int = 7) -> list[Clip]:
    return [
        Clip(f"{a:02d}-{i}", i % 6, f"{a:02d}", Path(f"/x/{a}-{i}.wav"), None, "ravdess")
        for a in range(1, actors + 1)
        for i in range(per_actor)
    ]


def actors_of(clips: list[Clip]) -> set[str]:
    return {c.actor for c in clips}


@pytest.mark.parametrize("seed", range(5))
def test_fraction_split_is_actor_disjoint_and_complete(seed: int) -> None:
    clips = corpus()
    train, val = split_by_actor(clips, val_fraction=0.3, seed=seed)
    assert actors_of(train).isdisjoint(actors_of(val))
    assert len(actors_of(val)) == 3
    assert sorted(c.clip_id for c in train + val) == sorted(c.clip_id for c in clips)


def test_fraction_split_is_deterministic_per_seed() -> None:
    clips = corpus()
    assert split_by_actor(clips, seed=3) == split_by_actor(clips, seed=3)
    picks = {frozenset(actors_of(split_by_actor(clips, seed=s)[1])) for s in range(8)}
    assert len(picks) > 1  # the seed does choose


def test_named_actors_accept_any_zero_padding() -> None:
    clips = corpus(16)
    train, val = split_by_actor(clips, parse_actors("13,14,15-16"))
    assert actors_of(val) == {"13", "14", "15", "16"}
    assert actors_of(train) == {f"{a:02d}" for a in range(1, 13)}
    _, val2 = split_by_actor(clips, ["013", "14", "15", "16"])
    assert actors_of(val2) == actors_of(val)


def test_zero_fraction_trains_on_everything() -> None:
    clips = corpus()
    train, val = split_by_actor(clips, val_fraction=0.0)
    assert val == [] and len(train) == len(clips)


def test_unknown_actor_and_everything_held_out_are_errors() -> None:
    clips = corpus(4)
    with pytest.raises(EdgefusionError, match="no clips of actor"):
        split_by_actor(clips, ["99"])
    with pytest.raises(EdgefusionError, match="nothing left to train on"):
        split_by_actor(clips, ["1", "2", "3", "4"])
    with pytest.raises(EdgefusionError, match=r"^--val-actors: actor range '5-2' runs backwards"):
        parse_actors("5-2", "--val-actors")
    for empty in ("", " ", ","):  # given but naming no one: not "every actor"
        with pytest.raises(EdgefusionError, match="names no actor"):
            parse_actors(empty)
    assert parse_actors(None) is None


def test_select_actors() -> None:
    clips = corpus(16)
    assert actors_of(select_actors(clips, parse_actors("1-12"))) == {f"{a:02d}" for a in range(1, 13)}
