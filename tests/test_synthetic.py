"""The synthetic corpus: real espeak-ng speech and real MP4s, checked as the pipeline reads them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from edgefusion.data.synthetic import SENTENCES, CorpusSummary, make_corpus
from edgefusion.errors import EdgefusionError
from edgefusion.labels import CLASSES

ACTORS, N_SENTENCES = 2, 2
STEM = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_XX$")
HAAR = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
FRAME_STEP = 3  # Haar check on every third frame
VOICED_RMS = 0.02

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusSummary:
    return make_corpus(tmp_path_factory.mktemp("synthetic"), actors=ACTORS, sentences=N_SENTENCES)


def parse(path: Path) -> tuple[str, str, str]:
    m = STEM.match(path.stem)
    assert m, f"{path.name} is not ACTOR_SENT_EMO_XX"
    return m.group(1), m.group(2), m.group(3)


def wavs(root: Path) -> list[Path]:
    return sorted((root / "AudioWAV").glob("*.wav"))


def by_emotion(root: Path) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """(actor, sentence) -> emotion -> audio."""
    out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for p in wavs(root):
        actor, sent, emo = parse(p)
        out.setdefault((actor, sent), {})[emo] = sf.read(p, dtype="float32")[0]
    return out


def read_frames(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


def active_rms(x: np.ndarray) -> float:
    """RMS over the loud 20 ms frames, so pauses and lead silence do not count."""
    frames = x[: len(x) // 320 * 320].reshape(-1, 320)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.mean(rms[rms > VOICED_RMS]))


def median_f0(x: np.ndarray, sr: int = 16000) -> float:
    """Median autocorrelation pitch of the voiced 40 ms frames, Hz."""
    f0 = []
    for start in range(0, len(x) - 640, 160):
        frame = x[start : start + 640] - x[start : start + 640].mean()
        if np.sqrt(np.mean(frame**2)) < VOICED_RMS:
            continue
        ac = np.correlate(frame, frame, "full")[639:]
        lo, hi = sr // 400, sr // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            f0.append(sr / lag)
    assert f0, "no voiced frames"
    return float(np.median(f0))


@needs_espeak
def test_layout_names_and_summary(corpus: CorpusSummary) -> None:
    audio = wavs(corpus.path)
    video = sorted((corpus.path / "VideoFlash").glob("*.mp4"))
    assert len(audio) == len(video) == corpus.clips == ACTORS * N_SENTENCES * len(CLASSES)
    assert [p.stem for p in audio] == [p.stem for p in video]
    fields = [parse(p) for p in audio]
    assert {a for a, _, _ in fields} == {"1001", "1002"} and corpus.actors == ACTORS
    assert {s for _, s, _ in fields} == set(list(SENTENCES)[:N_SENTENCES]) == {"DFA", "IEO"}
    assert {e for _, _, e in fields} == set(CLASSES)
    assert len(set(fields)) == len(fields)
    total = sum(sf.info(p).duration for p in audio)
    assert corpus.audio_seconds == pytest.approx(total, abs=0.01)


@needs_espeak
def test_wavs_are_16k_mono_pcm16_speech(corpus: CorpusSummary) -> None:
    for p in wavs(corpus.path):
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), p.name
        assert 0.6 < info.duration < 8.0, p.name
        x, _ = sf.read(p, dtype="float32")
        assert np.abs(x).max() > 0.1, f"{p.name} is silent"
        assert np.abs(x).max() < 0.99, f"{p.name} clips"


@needs_espeak
def test_videos_match_audio_and_show_a_detectable_face(corpus: CorpusSummary) -> None:
    cascade = cv2.CascadeClassifier(HAAR)
    assert not cascade.empty()
    found = checked = 0
    for wav in wavs(corpus.path):
        frames, fps = read_frames(corpus.path / "VideoFlash" / f"{wav.stem}.mp4")
        assert frames and fps > 0, wav.stem
        assert len(frames) / fps == pytest.approx(sf.info(wav).duration, abs=0.2), wav.stem
        assert frames[0].shape == (180, 240, 3)
        for frame in frames[::FRAME_STEP]:
            gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
            found += len(faces) > 0
            checked += 1
    assert found / checked >= 0.8, f"Haar found a face in {found}/{checked} frames"


@needs_espeak
def test_faces_move_and_differ_by_emotion(corpus: CorpusSummary) -> None:
    video = corpus.path / "VideoFlash"
    neutral, _ = read_frames(video / "1001_DFA_NEU_XX.mp4")
    happy, _ = read_frames(video / "1001_DFA_HAP_XX.mp4")
    moving = np.abs(neutral[0].astype(int) - neutral[len(neutral) // 2].astype(int)).mean()
    assert moving > 1.0
    other_actor, _ = read_frames(video / "1002_DFA_NEU_XX.mp4")
    assert np.abs(neutral[0].astype(int) - other_actor[0].astype(int)).mean() > 10
    assert np.abs(neutral[0].astype(int) - happy[0].astype(int)).mean() > 1.0


@needs_espeak
def test_emotions_differ_in_duration_loudness_and_pitch(corpus: CorpusSummary) -> None:
    for (actor, sent), clips in by_emotion(corpus.path).items():
        where = f"{actor}_{sent}"
        assert len(clips["SAD"]) > 1.5 * len(clips["FEA"]), f"{where}: sad not slower than fear"
        assert len(clips["DIS"]) > 1.1 * len(clips["NEU"]), f"{where}: disgust not slower"
        assert active_rms(clips["ANG"]) > 1.5 * active_rms(clips["SAD"]), f"{where}: anger not louder"
        assert median_f0(clips["FEA"]) > 1.3 * median_f0(clips["SAD"]), f"{where}: fear not higher"
        assert median_f0(clips["HAP"]) > 1.1 * median_f0(clips["NEU"]), f"{where}: happy not higher"


@needs_espeak
def test_actors_differ_in_voice(corpus: CorpusSummary) -> None:
    clips = by_emotion(corpus.path)
    f0 = {actor: median_f0(clips[(actor, "DFA")]["NEU"]) for actor in ("1001", "1002")}
    assert abs(f0["1001"] - f0["1002"]) > 20, f0


@needs_espeak
def test_same_seed_same_audio_different_seed_different(corpus: CorpusSummary, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    again = make_corpus(tmp_path / "a", actors=1, sentences=1, video=False, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    assert not (tmp_path / "a" / "VideoFlash").exists()
    for p in wavs(again.path):
        assert p.read_bytes() == (corpus.path / "AudioWAV" / p.name).read_bytes(), p.name
    other = make_corpus(tmp_path / "b", actors=1, sentences=1, seed=1, video=False)
    for p in wavs(other.path):
        assert p.read_bytes() != (corpus.path / "AudioWAV" / p.name).read_bytes(), p.name


@needs_espeak
def test_rewriting_a_corpus_leaves_no_stale_clip(tmp_path: Path) -> None:
    """A second make-corpus into the same folder replaces the clips; a foreign folder is refused."""
    folder = tmp_path / "c"
    make_corpus(folder, actors=2, sentences=1, video=False)
    assert len(wavs(folder)) == 12
    make_corpus(folder, actors=1, sentences=1, video=False)
    assert sorted(p.name[:4] for p in wavs(folder)) == ["1001"] * 6  # actor 1002's clips are gone
    assert "actors=1 sentences=1" in (folder / "SYNTHETIC.txt").read_text()

    foreign = tmp_path / "mine"
    (foreign / "AudioWAV").mkdir(parents=True)
    (foreign / "AudioWAV" / "1001_DFA_ANG_XX.wav").write_bytes(b"not ours")
    with pytest.raises(EdgefusionError, match=r"mine: is not empty and holds no corpus written by make-corpus"):
        make_corpus(foreign, actors=1, sentences=1, video=False)
    assert (foreign / "AudioWAV" / "1001_DFA_ANG_XX.wav").read_bytes() == b"not ours"


def test_missing_espeak_is_a_one_line_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no espeak-ng on it
    with pytest.raises(EdgefusionError, match=r"apt-get install espeak-ng") as err:
        make_corpus(tmp_path / "out", actors=1, sentences=1)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("actors", "sentences"), [(0, 1), (1, 0), (1, len(SENTENCES) + 1)])
def test_bad_counts_are_user_errors(tmp_path: Path, actors: int, sentences: int) -> None:
    with pytest.raises(EdgefusionError):
        make_corpus(tmp_path, actors=actors, sentences=sentences)
