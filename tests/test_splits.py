"""Speaker-disjoint splits and speaker lists, over one corpus and several."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from edgefusion.data.corpus import Clip
from edgefusion.data.splits import (
    describe_speakers,
    parse_actors,
    resolve_speakers,
    select_actors,
    speaker_names,
    split_by_actor,
)
from edgefusion.errors import EdgefusionError


def corpus(actors: int = 10, per_actor: int = 7, name: str = "ravdess", ids: Sequence[str] | None = None) -> list[Clip]:
    ids = ids or [f"{a:02d}" for a in range(1, actors + 1)]
    return [
        Clip(f"{name}-{a}-{i}", i % 6, a, Path(f"/x/{name}/{a}-{i}.wav"), None, name)
        for a in ids
        for i in range(per_actor)
    ]


def several() -> list[Clip]:
    """RAVDESS 01-16, EmoDB's ten speakers, EMOVO's six, TESS's two and a corpus of one speaker."""
    emodb = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    return (
        corpus(16)
        + corpus(name="emodb", ids=emodb)
        + corpus(name="emovo", ids=["f1", "f2", "f3", "m1", "m2", "m3"])
        + corpus(name="tess", ids=["OAF", "YAF"])
        + corpus(name="crema-d", ids=["1001"])
    )


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


def test_namespaced_actor_lists_parse() -> None:
    assert parse_actors("ravdess:13-14,emodb:03, emovo:f1,7") == [
        "ravdess:13",
        "ravdess:14",
        "emodb:03",
        "emovo:f1",
        "7",
    ]
    assert parse_actors("RAVDESS:1") == ["ravdess:1"]
    for bad in ("ravdess:", ":13", "ravdess: "):
        with pytest.raises(EdgefusionError, match=r"^--eval-actors: .* is not CORPUS:ACTORS"):
            parse_actors(bad, "--eval-actors")
    with pytest.raises(EdgefusionError, match="runs backwards"):
        parse_actors("emodb:16-03")


def test_speakers_resolve_plainly_or_by_corpus() -> None:
    clips = several()
    assert resolve_speakers(clips, parse_actors("ravdess:13-16") or []) == {f"ravdess:{a}" for a in range(13, 17)}
    assert resolve_speakers(clips, ["emodb:3", "EMOVO:F1", "cremad:1001"]) == {"emodb:03", "emovo:f1", "crema-d:1001"}
    assert resolve_speakers(clips, ["f2", "oaf", "1"]) == {"emovo:f2", "tess:OAF", "ravdess:01"}  # one corpus has each
    assert {c.speaker for c in select_actors(clips, ["tess:yaf"])} == {"tess:YAF"}


def test_speaker_mistakes_are_one_line_errors() -> None:
    clips = several()
    with pytest.raises(EdgefusionError) as err:  # RAVDESS and EmoDB both have a speaker 03
        resolve_speakers(clips, ["3"], "DATA", "--val-actors")
    assert str(err.value) == (
        "DATA: actor 3 given by --val-actors is in emodb and ravdess: name one, e.g. emodb:3 or ravdess:3"
    )
    with pytest.raises(EdgefusionError, match=r"no loaded corpus is called 'iemocap' \(iemocap:1; loaded: crema-d, "):
        resolve_speakers(clips, ["iemocap:1"])
    with pytest.raises(EdgefusionError) as err:
        resolve_speakers(clips, ["emodb:04", "ravdess:17"], "DATA", "--actors")
    assert str(err.value) == (
        "DATA: no clips of actor(s) emodb:04, ravdess:17 given by --actors (actors present: crema-d:1001, "
        "emodb:03, emodb:08-16, emovo:f1, emovo:f2, emovo:f3, emovo:m1, emovo:m2, emovo:m3, ravdess:01-16, tess:OAF, "
        "tess:YAF)"
    )
    assert "\n" not in str(err.value)


def test_speaker_lists_read_short() -> None:
    assert describe_speakers(corpus(16)) == "01-16"
    assert (
        describe_speakers(corpus(ids=["1001", "1002", "1004", "1005", "1006", "1010"])) == "1001, 1002, 1004-1006, 1010"
    )
    evens = describe_speakers(corpus(ids=[str(2 * i) for i in range(1, 21)]))
    assert evens == "2, 4, 6, 8, 10, 12, 14, 16, 18, 20, ... (20 items)"
    assert speaker_names(corpus(ids=["9", "10", "1"])) == ["1", "9", "10"]  # one corpus: plain, as ever
    assert speaker_names(corpus(2) + corpus(1, name="emodb")) == ["emodb:01", "ravdess:01", "ravdess:02"]


def old_draw(clips: list[Clip], fraction: float, seed: int) -> set[str]:
    """The validation actors edgefusion drew before it read several corpora."""
    actors = sorted({str(int(c.actor)) for c in clips}, key=lambda a: (len(a), a))
    return set(random.Random(seed).sample(actors, max(1, round(len(actors) * fraction))))


@pytest.mark.parametrize("seed", range(4))
def test_one_corpus_splits_as_it_always_did(seed: int) -> None:
    clips = corpus(16)
    for fraction in (0.2, 0.3, 0.5):
        _, val = split_by_actor(clips, val_fraction=fraction, seed=seed)
        assert {str(int(a)) for a in actors_of(val)} == old_draw(clips, fraction, seed)


@pytest.mark.parametrize("seed", range(6))
def test_several_corpora_split_speaker_disjoint_with_every_corpus_in_validation(seed: int) -> None:
    clips = several()
    train, val = split_by_actor(clips, val_fraction=0.2, seed=seed)
    train_speakers, val_speakers = {c.speaker for c in train}, {c.speaker for c in val}
    assert train_speakers.isdisjoint(val_speakers)
    assert sorted(c.clip_id for c in train + val) == sorted(c.clip_id for c in clips)
    per_corpus = {name: sum(s.startswith(f"{name}:") for s in val_speakers) for name in ("ravdess", "emodb", "emovo")}
    assert per_corpus == {"ravdess": 3, "emodb": 2, "emovo": 1}  # round(n * 0.2), at least one
    assert sum(s.startswith("tess:") for s in val_speakers) == 1  # two speakers: one each side
    assert not any(s.startswith("crema-d:") for s in val_speakers)  # one speaker: trained on
    assert split_by_actor(clips, val_fraction=0.2, seed=seed) == (train, val)


def test_same_id_in_two_corpora_is_two_speakers() -> None:
    clips = corpus(4) + corpus(4, name="emodb")
    train, val = split_by_actor(clips, ["ravdess:03", "emodb:1"])
    assert {c.speaker for c in val} == {"ravdess:03", "emodb:01"}
    assert "ravdess:01" in {c.speaker for c in train} and "emodb:03" in {c.speaker for c in train}
    with pytest.raises(EdgefusionError, match="actor 2 given by --val-actors is in emodb and ravdess"):
        split_by_actor(clips, ["2"])
    everyone = [f"{n}:{a}" for n in ("ravdess", "emodb") for a in range(1, 5)]
    with pytest.raises(EdgefusionError, match="nothing left to train on"):
        split_by_actor(clips, everyone)
