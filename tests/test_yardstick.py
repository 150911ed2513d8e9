"""benchmarks/yardstick.py: the plain audio-only CNN edgefusion's model is compared against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgefusion.data.corpora import load_clips
from edgefusion.data.corpus import Clip
from tests.conftest import load_benchmark, tone, write_wav

ys = load_benchmark("yardstick")

# RAVDESS emotion code -> (pitch Hz, amplitude scale): neutral low and quiet, angry high and loud
VOICES = {"01": (180.0, 0.4), "05": (420.0, 1.0)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RAVDESS layout, audio only: actors 1-3 with 2 classes x 2 statements x 2 repetitions of 1 s tones
    (a little per-actor pitch offset), actor 4 with a single clip."""
    root = tmp_path_factory.mktemp("yardstick") / "ravdess"
    for actor in (1, 2, 3):
        for emotion, (pitch, gain) in VOICES.items():
            for statement in (1, 2):
                for rep in (1, 2):
                    y = gain * tone(1.0, pitch + 15 * actor + 5 * rep, seed=actor * 10 + statement * 2 + rep)
                    name = f"03-01-{emotion}-01-{statement:02d}-{rep:02d}-{actor:02d}.wav"
                    write_wav(root / f"Actor_{actor:02d}" / name, y)
    write_wav(root / "Actor_04" / "03-01-05-01-01-01-04.wav", tone(1.0, 440.0, seed=99))
    return root


def clips(corpus: Path, spec: str | None) -> list[Clip]:
    return load_clips([corpus], spec, False, "--actors")


def test_network_is_the_specified_one() -> None:
    model = ys.Yardstick()
    assert ys.parameter_count(model) == ys.PARAMETERS == 245_878  # "about 246k"
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 128]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4
    assert model(torch.zeros(2, 1, 64, 300)).shape == (2, 6)


def test_features_are_librosas_log_mel(tmp_path: Path) -> None:
    librosa = pytest.importorskip("librosa")

    def reference(y: np.ndarray) -> np.ndarray:
        power = librosa.feature.melspectrogram(
            y=y.astype(np.float64), sr=16000, n_fft=400, hop_length=160, n_mels=64, fmin=50, fmax=8000, center=False
        )
        return np.log(power + 1e-6)

    y = tone(1.3, 440.0)
    ours, ref = ys.log_mel(y), reference(y)
    assert ours.shape == ref.shape == (64, 1 + (len(y) - 400) // 160)
    np.testing.assert_allclose(ours, ref, atol=1e-3)

    # a clip from disk: decoded, then standardised over the clip
    path = write_wav(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav", tone(0.8, 300.0))
    clip = Clip("x", 4, "01", path, None, "ravdess")
    (spec,) = ys.features([clip])
    ref = reference(ys.load_audio(path, 16000))
    np.testing.assert_allclose(spec, (ref - ref.mean()) / ref.std(), atol=1e-3)
    assert abs(float(spec.mean())) < 1e-5 and abs(float(spec.std()) - 1.0) < 1e-3


def test_adaptation_leaves_a_lone_speaker_unshifted(corpus: Path) -> None:
    torch.manual_seed(0)
    model = ys.Yardstick().eval()
    train, test = clips(corpus, "ravdess:1-2"), clips(corpus, "ravdess:3-4")
    result = ys.score_yardstick(model, train, test)
    rows = {r["clip_id"]: r for r in result["clips"]}
    (lone,) = [r for r in result["clips"] if r["speaker"] == "ravdess:04"]
    assert result["lone_clips"] == 1 and result["n"] == len(test) == 9
    assert lone["adapted_pred"] == lone["pred"]
    assert "per_corpus" not in result  # one corpus

    # the shifts themselves: a lone clip's is zero, the others' centre on the speaker's other clips
    emb = ys.embed_clips(model, test)
    speakers = [c.speaker for c in test]
    reference = ys.embed_clips(model, train).mean(axis=0)
    shifts = ys.leave_one_out_shifts(emb, speakers, reference)
    i = speakers.index("ravdess:04")
    assert not shifts[i].any()
    others = [j for j, s in enumerate(speakers) if s == "ravdess:03"][1:]
    np.testing.assert_allclose(shifts[speakers.index("ravdess:03")], reference - emb[others].mean(axis=0))
    # unadapted: the whole clip through the network in one pass
    with torch.no_grad():
        logits = model(torch.from_numpy(ys.pad_to(ys.features(test[:1])[0], ys.CROP))[None, None])
    assert rows[test[0].clip_id]["pred"] == int(logits.argmax())


def test_several_corpora_are_also_scored_apart(corpus: Path, cremad_tones: Path) -> None:
    torch.manual_seed(0)
    model = ys.Yardstick().eval()
    every = load_clips([corpus, cremad_tones], None, False, "--actors")
    test = [c for c in every if c.speaker in ("ravdess:03", "crema-d:1003")]
    train = [c for c in every if c not in test]
    result = ys.score_yardstick(model, train, test)
    per = result["per_corpus"]
    assert sorted(per) == ["crema-d", "ravdess"] and per["ravdess"]["n"] == 8 and per["crema-d"]["n"] == 12
    hits = sum(r["pred"] == r["label"] for r in result["clips"] if r["speaker"] == "ravdess:03")
    assert per["ravdess"]["unadapted"]["accuracy"] == hits / 8


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--test", "ravdess:3", "--train", "ravdess:1-3"], "ravdess:03 in both --train and --test"),
        (["--test", "ravdess:3", "--epochs", "0"], "--epochs must be at least 1"),
        (["--test", "ravdess:3", "--seeds", "a"], "--seeds 'a'"),
        (["--test", "ravdess:3", "--threads", "0"], "--threads must be at least 1"),
        (["--test", "ravdess:9"], "no clips of actor(s) ravdess:9"),
        (["--test", "ravdess:3", "--epochs", "x"], "--epochs"),
        (["--train", "ravdess:1"], "--test"),
    ],
)
def test_bad_arguments_are_one_line(
    corpus: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    assert ys.main([str(corpus), *extra]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert captured.out == ""  # nothing ran


def test_json_is_checked_before_any_work(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ys.main([str(corpus), "--test", "ravdess:3", "--json", str(tmp_path / "missing" / "out.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_a_seed_reproduces_and_the_cli_reports_it(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "yardstick.json"
    args = [str(corpus), "--test", "ravdess:3", "--train", "ravdess:1-2", "--seeds", "0", "--epochs", "2"]
    threads = torch.get_num_threads()
    assert ys.main([*args, "--threads", "1", "--json", str(out)]) == 0
    assert torch.get_num_threads() == threads  # restored
    lines = capsys.readouterr().out.splitlines()
    assert sum(" epoch " in line for line in lines) == 2  # stdout is not a terminal: a line per epoch
    assert lines[-2].startswith("seed 0: accuracy") and lines[-1].startswith("mean of 1 seed(s)")
    (run,) = json.loads(out.read_text())["runs"]
    assert run["n"] == 8 and run["lone_clips"] == 0

    train, test = clips(corpus, "ravdess:1-2"), clips(corpus, "ravdess:3")
    model = ys.train_yardstick(train, 0, epochs=2, threads=1, log=None)
    again = ys.score_yardstick(model, train, test)
    assert again["clips"] == run["clips"]
    assert again["unadapted"] == run["unadapted"] and again["adapted"] == run["adapted"]
    twin = ys.train_yardstick(train, 0, epochs=2, threads=1, log=None)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
