"""Several corpora at once: reading them, naming their speakers, and every mistake through the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from edgefusion.commands.reports import corpus_scores, print_corpus_scores
from edgefusion.data.corpora import check_classes, load_clips, load_corpora
from edgefusion.errors import DataError, EdgefusionError
from edgefusion.evaluate import ClipPredictions
from tests.conftest import cli, one_line_error, tone, write_wav

SHORT = tone(0.3, 300)
RAVDESS_SIX = ("01", "03", "04", "05", "06", "07")  # neutral, happy, sad, angry, fearful, disgust


def ravdess(root: Path, actors: tuple[int, ...] = (1, 2, 3), emotions: tuple[str, ...] = RAVDESS_SIX) -> Path:
    for actor in actors:
        for emotion in emotions:
            write_wav(root / f"Actor_{actor:02d}" / f"03-01-{emotion}-01-01-01-{actor:02d}.wav", SHORT)
    return root


def emodb(root: Path, speakers: tuple[str, ...] = ("03", "08"), letters: str = "WEAFNTL") -> Path:
    for speaker in speakers:
        for letter in letters:
            write_wav(root / "wav" / f"{speaker}a01{letter}a.wav", SHORT)
    return root


def emovo(root: Path, speakers: tuple[str, ...] = ("f1", "m1"), emotions: str = "rab dis pau gio neu tri") -> Path:
    for speaker in speakers:
        for emotion in emotions.split():
            write_wav(root / speaker / f"{emotion}-{speaker}-b1.wav", SHORT)
    return root


def tess(root: Path) -> Path:
    top = root / "TESS Toronto emotional speech set data"
    for speaker in ("OAF", "YAF"):
        for emotion in ("angry", "disgust", "Fear", "happy", "neutral", "sad", "pleasant_surprise"):
            write_wav(top / f"{speaker}_{emotion}" / f"{speaker}_back_{emotion.lower()}.wav", SHORT)
    return root


def test_several_corpora_load_as_one_list(tmp_path: Path) -> None:
    datas = [ravdess(tmp_path / "r"), emodb(tmp_path / "e"), tess(tmp_path / "t")]
    corpora = load_corpora(datas)
    assert [c.name for c in corpora] == ["ravdess", "emodb", "tess"]
    assert corpora[2].folder == (tmp_path / "t" / "TESS Toronto emotional speech set data").resolve()
    clips = load_clips(datas, None, False)
    assert len(clips) == 3 * 6 + 2 * 6 + 2 * 6
    assert {c.speaker for c in clips} == {
        "ravdess:01", "ravdess:02", "ravdess:03", "emodb:03", "emodb:08", "tess:OAF", "tess:YAF",
    }  # fmt: skip
    picked = load_clips(datas, "ravdess:1-2,emodb:8,yaf", False)
    assert {c.speaker for c in picked} == {"ravdess:01", "ravdess:02", "emodb:08", "tess:YAF"}
    assert load_clips(datas[0], "1", False) == [c for c in clips if c.speaker == "ravdess:01"]  # one Path, as before


def test_a_folder_given_twice_or_a_corpus_given_twice_is_refused(tmp_path: Path) -> None:
    first, other = ravdess(tmp_path / "r1"), ravdess(tmp_path / "r2", actors=(7, 8))
    (tmp_path / "link").symlink_to(first)
    for datas, message in (
        ([first, tmp_path / "link"], f"{tmp_path / 'link'}: is the same corpus folder as {first}: give each DATA once"),
        ([first, tmp_path / "r1" / ".." / "r1"], "is the same corpus folder as"),
        (
            [first, other],
            f"{other}: is a RAVDESS corpus and so is {first}: give one folder per corpus "
            "(their speaker ids would collide)",
        ),
    ):
        with pytest.raises(DataError) as err:
            load_corpora(datas)
        assert message in str(err.value)
    wrapped = tess(tmp_path / "t")  # the wrapping folder and the folder inside it are one corpus folder
    with pytest.raises(DataError, match="is the same corpus folder as"):
        load_corpora([wrapped, wrapped / "TESS Toronto emotional speech set data"])


def test_a_class_one_corpus_lacks_is_a_warning_and_no_corpus_having_it_an_error(tmp_path: Path) -> None:
    corpora = load_corpora([ravdess(tmp_path / "r"), emodb(tmp_path / "e", letters="WEFNT")])  # EmoDB: no fear
    clips = [c for corpus in corpora for c in corpus.clips]
    assert check_classes(corpora, clips, clips) == [f"{tmp_path / 'e'}: no clips of FEA (the other corpora have them)"]
    without_fear = [c for c in clips if c.label_code != "FEA"]
    with pytest.raises(EdgefusionError, match=r"no training clip of FEA \(fear\) in any corpus"):
        check_classes(corpora, clips, without_fear)
    assert check_classes(corpora[:1], without_fear, without_fear) == []  # one corpus: as it always was


def test_bad_corpus_lists_through_the_cli(tmp_path: Path) -> None:
    r, e = ravdess(tmp_path / "r"), emodb(tmp_path / "e")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hi")
    (tmp_path / "link").symlink_to(r)
    r2 = ravdess(tmp_path / "r2", actors=(9,))
    no_fear = [emodb(tmp_path / "e2", letters="WEFNT"), emovo(tmp_path / "v", emotions="rab dis gio neu tri")]
    model = tmp_path / "m.pt"
    cases: list[tuple[list[str | Path], tuple[str, ...]]] = [
        ([r, tmp_path / "junk"], (f"{tmp_path / 'junk'}: no known corpus layout", "EmoDB wav/", "TESS OAF_*/YAF_*")),
        ([r, tmp_path / "link"], ("link: is the same corpus folder as", str(r))),
        ([r, r2], (f"{r2}: is a RAVDESS corpus and so is {r}",)),
        ([r, e, "--actors", "ravdess:1-2", "--val-actors", "ravdess:2-3"], ("--actors and --val-actors share 02",)),
        (
            [r, e, "--val-actors", "emodb:99"],
            (
                "no clips of actor(s) emodb:99 given by --val-actors",
                "actors present: emodb:03, emodb:08, ravdess:01-03",
            ),
        ),
        ([r, e, "--actors", "3"], ("actor 3 given by --actors is in emodb and ravdess", "emodb:3 or ravdess:3")),
        ([r, e, "--actors", "tess:1"], ("no loaded corpus is called 'tess'", "loaded: emodb, ravdess")),
        ([*no_fear, "--val-fraction", "0"], ("no training clip of FEA (fear) in any corpus",)),
    ]
    for args, fragments in cases:
        line = one_line_error(cli("train", *args, "--out", model, "--epochs", "1", cache=tmp_path, check=False))
        for fragment in fragments:
            assert fragment in line, line
        assert not model.exists() and not model.with_suffix(".json").exists()


def test_eval_scores_each_corpus(tmp_path: Path, untrained_checkpoint: Path) -> None:
    r, e = ravdess(tmp_path / "r", actors=(1, 2)), emodb(tmp_path / "e", speakers=("03",))
    report = tmp_path / "scores.json"
    proc = cli("eval", untrained_checkpoint, r, e, "--json", report, cache=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "fused, per corpus" in proc.stdout
    assert f"RAVDESS {r}: 12 clips, 2 actors" in proc.stderr and f"EmoDB {e}: 6 clips, 1 actor" in proc.stderr
    scores = json.loads(report.read_text())
    assert scores["data"] == [str(r), str(e)]
    assert scores["actors"] == ["emodb:03", "ravdess:01", "ravdess:02"]
    per = scores["per_corpus"]
    assert list(per) == ["ravdess", "emodb"]
    assert (per["ravdess"]["clips"], per["emodb"]["clips"]) == (12, 6) and per["emodb"]["actors"] == ["03"]
    assert per["ravdess"]["fused"]["n"] + per["emodb"]["fused"]["n"] == scores["fused"]["n"] == 18
    right = sum(round(p["fused"]["accuracy"] * p["clips"]) for p in per.values())
    assert right == round(scores["fused"]["accuracy"] * 18)

    # one corpus's clips (--actors), or one corpus: the single-corpus report, unchanged
    proc = cli(
        "eval", untrained_checkpoint, r, e, "--actors", "ravdess:1", "--json", report, cache=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "per corpus" not in proc.stdout and "per_corpus" not in json.loads(report.read_text())
    proc = cli("eval", untrained_checkpoint, r, "--json", report, cache=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    single = json.loads(report.read_text())
    assert single["data"] == str(r) and single["actors"] == ["01", "02"] and "per_corpus" not in single
    line = one_line_error(cli("eval", untrained_checkpoint, r, tmp_path / "link-less", cache=tmp_path, check=False))
    assert "link-less: no such folder" in line


def test_per_corpus_scores_count_each_corpus_and_its_adapted_figures(tmp_path: Path) -> None:
    corpora = load_corpora([ravdess(tmp_path / "r", actors=(1,)), emodb(tmp_path / "e", speakers=("03",))])
    clips = [c for corpus in corpora for c in corpus.clips]  # 6 RAVDESS clips, then 6 EmoDB clips
    labels = np.array([c.label for c in clips])
    right = np.eye(6)[labels]
    wrong = np.eye(6)[(labels + 1) % 6]
    plain = ClipPredictions(labels, {"fused": np.concatenate([right[:6], wrong[6:]])}, {})
    adapted = ClipPredictions(labels, {"fused": right}, {})
    per = corpus_scores(corpora, clips, plain, adapted)
    assert per["ravdess"]["fused"]["accuracy"] == 1.0 and per["emodb"]["fused"]["accuracy"] == 0.0
    assert per["emodb"]["fused, speaker-adapted"]["accuracy"] == 1.0
    assert (per["ravdess"]["clips"], per["emodb"]["actors"]) == (6, ["03"])
    said = io.StringIO()
    print_corpus_scores(Console(file=said, width=200), per)
    rows = [line for line in said.getvalue().splitlines() if "RAVDESS" in line or "EmoDB" in line]
    assert "100.0%" in rows[0] and "0.0%" in rows[1] and "adapted accuracy" in said.getvalue()


@pytest.mark.slow
def test_train_on_two_corpora(tmp_path: Path) -> None:
    r, v = ravdess(tmp_path / "r", actors=(1, 2, 3)), emovo(tmp_path / "v", speakers=("f1", "m1", "m2"))
    model = tmp_path / "m.pt"
    args = ("train", r, v, "--out", model, "--epochs", "1", "--batch-size", "8", "--val-actors", "ravdess:3,emovo:m2")
    proc = cli(*args, cache=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert model.exists() and "validation actors emovo:m2, ravdess:03" in proc.stdout
    assert f"RAVDESS {r}: 18 clips, 3 actors" in proc.stderr
    summary = json.loads(model.with_suffix(".json").read_text())
    assert summary["train_clips_per_corpus"] == {"emovo": 12, "ravdess": 12}
    assert set(summary["val"]["per_corpus"]) == {"emovo", "ravdess"}
    assert "epoch 1/1 loss" in proc.stderr  # piped: a line per epoch, not a progress bar


@pytest.mark.slow
def test_the_window_length_is_a_training_option(tmp_path: Path) -> None:
    r = ravdess(tmp_path / "r", actors=(1, 2, 3))
    model = tmp_path / "m.pt"
    args = ("train", r, "--out", model, "--epochs", "1", "--batch-size", "8", "--window-seconds", "1.5")
    assert cli(*args, cache=tmp_path, check=False).returncode == 0
    assert torch.load(model, weights_only=True)["config"]["window_seconds"] == 1.5
    bad = cli("train", r, "--out", tmp_path / "x.pt", "--window-seconds", "0.1", cache=tmp_path, check=False)
    assert bad.returncode != 0 and "--window-seconds must be between 0.5 and 10, got 0.1" in bad.stderr
    assert not (tmp_path / "x.pt").exists()
