"""Corpus readers on small corpora written by the tests, in every documented layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from edgefusion.data.audio import load_audio
from edgefusion.data.corpus import corpus_summary, find_layout, scan_corpus
from edgefusion.errors import DataError
from edgefusion.labels import CLASSES, EMOVO_EMOTIONS
from edgefusion.wording import plural
from tests.conftest import CREMAD_EMOTIONS, RAVDESS, needs_ravdess, tone, write_wav


def write_video(path: Path, frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = "FLV1" if path.suffix == ".flv" else "mp4v"  # CREMA-D's VideoFlash is Flash video
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, dtype=np.uint8))
    writer.release()
    return path


def test_cremad_audio_only(cremad_tones: Path) -> None:
    clips = scan_corpus(cremad_tones)
    assert len(clips) == 3 * 6 * 2
    assert {c.actor for c in clips} == {"1001", "1002", "1003"}
    for clip in clips:
        assert clip.audio is not None and clip.video is None and clip.corpus == "crema-d"
        assert clip.label_code == clip.clip_id.split("_")[2]


def test_cremad_pairs_audio_with_video_by_stem(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav", tone(1.0, 300))
    write_video(root / "VideoFlash" / "1001_DFA_ANG_XX.mp4")
    write_video(root / "VideoFlash" / "1002_IEO_SAD_HI.flv")  # video only
    clips = {c.clip_id: c for c in scan_corpus(root)}
    assert clips["1001_DFA_ANG_XX"].audio is not None and clips["1001_DFA_ANG_XX"].video is not None
    assert clips["1002_IEO_SAD_HI"].audio is None and clips["1002_IEO_SAD_HI"].video is not None
    assert clips["1002_IEO_SAD_HI"].label == CLASSES.index("SAD")


def ravdess_name(modality: str, emotion: str, actor: int, statement: str = "01", rep: str = "01") -> str:
    return f"{modality}-01-{emotion}-01-{statement}-{rep}-{actor:02d}"


def test_ravdess_layout_pairs_modalities_and_drops_calm(tmp_path: Path) -> None:
    root = tmp_path / "r"
    for actor in (1, 2):
        for emotion in ("01", "02", "03", "04", "05", "06", "07", "08"):
            write_wav(root / f"Actor_{actor:02d}" / f"{ravdess_name('03', emotion, actor)}.wav", tone(1.0, 300))
        write_video(
            root / f"Actor_{actor:02d}" / f"{ravdess_name('01', '05', actor)}.mp4"
        )  # audio-video of the angry clip
        write_video(
            root / f"Actor_{actor:02d}" / f"{ravdess_name('02', '04', actor, rep='02')}.mp4"
        )  # video-only, no audio twin
    (root / "Actor_01" / "notes.txt").write_text("not media; ignored")
    clips = scan_corpus(root)
    codes = sorted(c.label_code for c in clips if c.actor == "01")
    assert codes == sorted(["NEU", "HAP", "SAD", "ANG", "FEA", "DIS", "SAD"])  # calm and surprised dropped
    angry = next(c for c in clips if c.actor == "02" and c.label_code == "ANG")
    assert angry.audio is not None and angry.video is not None  # 03 WAV paired with 01 MP4
    video_only = [c for c in clips if c.audio is None]
    assert len(video_only) == 2 and all(c.label_code == "SAD" for c in video_only)

    merged = scan_corpus(root, calm_as_neutral=True)
    assert sum(c.label_code == "NEU" for c in merged) == 2 * sum(c.label_code == "NEU" for c in clips)


@needs_ravdess
def test_real_ravdess_speech() -> None:
    clips = scan_corpus(RAVDESS)
    assert len({c.actor for c in clips}) == 16
    assert all(c.audio is not None and c.video is None for c in clips)
    # 60 utterances per actor, less calm and surprised (16), less the one missing file
    assert len(clips) == 16 * 44 - 1


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.mkdir(), "folder is empty"),
        (lambda root: (root.mkdir(), (root / "x.wav").write_bytes(b"")), "no known corpus layout"),
        (lambda root: (root / "wav").mkdir(parents=True), "no known corpus layout"),  # no EmoDB names in it
        (lambda root: (root / "AudioWAV").mkdir(parents=True), "no recognizable clips"),
        (
            lambda root: write_wav(root / "AudioWAV" / "1001_DFA_XYZ_XX.wav", tone(0.5, 300)),
            "unknown emotion code 'XYZ'",
        ),
        (lambda root: write_wav(root / "AudioWAV" / "hello.wav", tone(0.5, 300)), "not a CREMA-D file name"),
        (
            lambda root: write_wav(root / "Actor_01" / "03-01-09-01-01-01-01.wav", tone(0.5, 300)),
            "unknown RAVDESS emotion code '09'",
        ),
        (lambda root: write_wav(root / "Actor_01" / "take1.wav", tone(0.5, 300)), "not a RAVDESS file name"),
        (
            lambda root: (write_wav(root / "wav" / "03a01Wa.wav", SHORT), write_wav(root / "wav" / "x.wav", SHORT)),
            "not an EmoDB file name",
        ),
        (lambda root: write_wav(root / "wav" / "03a01Xa.wav", SHORT), "unknown EmoDB emotion code 'X'"),
        (lambda root: write_wav(root / "m1" / "xyz-m1-b1.wav", SHORT), "unknown EMOVO emotion 'xyz'"),
        (lambda root: write_wav(root / "m1" / "dis_m1_b1.wav", SHORT), "not an EMOVO file name"),
        (lambda root: write_wav(root / "m1" / "dis-m2-b1.wav", SHORT), "names speaker m2 but lies in folder m1/"),
        (lambda root: write_wav(root / "OAF_calm" / "OAF_back_calm.wav", SHORT), "unknown TESS emotion 'calm'"),
        (lambda root: write_wav(root / "OAF_angry" / "back.wav", SHORT), "not a TESS file name"),
        (lambda root: write_wav(root / "OAF_angry" / "YAF_back_angry.wav", SHORT), "names speaker YAF"),
        (
            lambda root: (
                write_wav(root / "OAF_angry" / "OAF_back_angry.wav", SHORT),
                write_wav(root / "OAF_sad" / "OAF_back_angry.wav", SHORT),
            ),
            "the same clip name as",
        ),
        (lambda root: write_wav(root / "wav" / "03a01La.wav", SHORT), "no recognizable clips"),  # boredom only
        (
            lambda root: (
                write_wav(root / "one" / "wav" / "03a01Wa.wav", SHORT),
                write_wav(root / "two" / "Actor_01" / "03-01-05-01-01-01-01.wav", SHORT),
            ),
            "holds several corpora (one/ (EmoDB), two/ (RAVDESS)): give each folder as its own DATA",
        ),
    ],
)
def test_bad_corpus_folders(tmp_path: Path, setup, problem: str) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError) as err:
        scan_corpus(root)
    message = str(err.value)
    assert problem in message and "\n" not in message
    assert str(tmp_path) in message


def test_an_unknown_layout_names_every_layout_read(tmp_path: Path) -> None:
    write_wav(tmp_path / "clips" / "hello.wav", SHORT)
    with pytest.raises(DataError) as err:
        scan_corpus(tmp_path / "clips")
    for layout in ("CREMA-D AudioWAV/", "RAVDESS Actor_NN/", "EmoDB wav/", "EMOVO f1..m3/", "TESS OAF_*/YAF_*"):
        assert layout in str(err.value)


def test_file_instead_of_folder(tmp_path: Path) -> None:
    f = write_wav(tmp_path / "clip.wav", tone(0.5, 300))
    with pytest.raises(DataError, match="not a folder"):
        scan_corpus(f)


def test_all_six_classes_map_in_order(cremad_tones: Path) -> None:
    labels = {c.label_code: c.label for c in scan_corpus(cremad_tones)}
    assert labels == {code: CLASSES.index(code) for code in CREMAD_EMOTIONS}


def test_counts_read_as_english(tmp_path: Path) -> None:
    assert [plural(n, "clip") for n in (0, 1, 2)] == ["0 clips", "1 clip", "2 clips"]
    assert plural(1, "speaker") == "1 speaker" and plural(3, "index", "indices") == "3 indices"
    write_wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav", tone(1.0, 200))
    assert corpus_summary(scan_corpus(tmp_path)).startswith("1 clip, 1 actor, ANG=1 ")


SHORT = tone(0.3, 300)


def test_emodb_layout(tmp_path: Path) -> None:
    for speaker in ("03", "16"):
        for letter in "WEAFNTL":
            write_wav(tmp_path / "wav" / f"{speaker}a01{letter}a.wav", SHORT)
    write_wav(tmp_path / "wav" / "03b10Wb.wav", SHORT)
    (tmp_path / "lablaut").mkdir()  # the original distribution's other folders are left alone
    clips = scan_corpus(tmp_path)
    assert len(clips) == 2 * 6 + 1  # boredom (L) dropped
    codes = {c.clip_id[-2]: c.label_code for c in clips}
    assert codes == {"W": "ANG", "E": "DIS", "A": "FEA", "F": "HAP", "N": "NEU", "T": "SAD"}
    assert {c.actor for c in clips} == {"03", "16"} and {c.corpus for c in clips} == {"emodb"}
    assert {c.speaker for c in clips} == {"emodb:03", "emodb:16"}
    assert all(c.audio is not None and c.video is None for c in clips)


def test_emovo_layout(tmp_path: Path) -> None:
    for speaker in ("f1", "m3"):
        for emotion in EMOVO_EMOTIONS:
            for sentence in ("b1", "n5"):
                write_wav(tmp_path / speaker / f"{emotion}-{speaker}-{sentence}.wav", SHORT)
    (tmp_path / "README.txt").write_text("not a folder, left alone")
    clips = scan_corpus(tmp_path)
    assert len(clips) == 2 * 6 * 2  # surprise (sor) dropped
    expected = {"rab": "ANG", "dis": "DIS", "pau": "FEA", "gio": "HAP", "neu": "NEU", "tri": "SAD"}
    assert {c.clip_id.split("-")[0]: c.label_code for c in clips} == expected
    assert {c.speaker for c in clips} == {"emovo:f1", "emovo:m3"}


def test_tess_in_a_wrapping_folder_with_odd_names_and_formats(tmp_path: Path) -> None:
    """Public copies: a top folder with spaces, folder names in any case, AIFF and float WAV named .wav."""
    top = tmp_path / "tess" / "TESS Toronto emotional speech set data"
    for folder, emotion in (
        ("OAF_angry", "angry"), ("OAF_Fear", "fear"), ("OAF_Pleasant_surprise", "ps"), ("OAF_Sad", "sad"),
        ("YAF_disgust", "disgust"), ("yaf_HAPPY", "happy"), ("YAF_neutral", "neutral"),
        ("YAF_pleasant_surprised", "ps"),
    ):  # fmt: skip
        speaker = folder[:3].upper()
        for word in ("back", "bar"):
            write_wav(top / folder / f"{speaker}_{word}_{emotion}.wav", SHORT)
    aiff = top / "OAF_angry" / "OAF_bite_angry.wav"
    sf.write(aiff, tone(0.5, 300, sr=44100), 44100, format="AIFF", subtype="PCM_16")
    float_wav = top / "YAF_neutral" / "YAF_bite_neutral.wav"
    sf.write(float_wav, tone(0.5, 300, sr=44100), 44100, subtype="FLOAT")
    hi_rate = top / "YAF_disgust" / "YAF_bite_disgust.wav"
    sf.write(hi_rate, tone(0.5, 300, sr=96000), 96000, subtype="FLOAT")
    stereo = top / "OAF_Sad" / "OAF_bite_sad.wav"
    write_wav(stereo, tone(0.5, 300, sr=48000, channels=2), sr=48000)
    (top / "OAF_angry" / "._OAF_back_angry.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork
    (tmp_path / "tess" / "__MACOSX" / "OAF_angry").mkdir(parents=True)
    assert sf.info(str(aiff)).format == "AIFF" and sf.info(str(float_wav)).subtype == "FLOAT"

    layout, folder = find_layout(tmp_path / "tess")
    assert (layout.corpus, folder) == ("tess", top)
    clips = scan_corpus(tmp_path / "tess")
    assert len(clips) == 6 * 2 + 4  # pleasant surprise dropped however it is spelled
    assert {c.speaker for c in clips} == {"tess:OAF", "tess:YAF"}
    by_id = {c.clip_id: c for c in clips}
    assert by_id["YAF_back_happy"].label_code == "HAP" and by_id["OAF_back_fear"].label_code == "FEA"
    for path in (aiff, float_wav, hi_rate, stereo):  # decoded by content, whatever the name says
        pcm = load_audio(path)
        assert pcm.ndim == 1 and pcm.dtype == np.float32 and abs(len(pcm) - 8000) <= 2, (path, pcm.shape)
        assert 0.15 < np.abs(pcm).max() < 0.4  # the tone's level, not noise or silence


def test_speaker_is_the_actor_namespaced_by_corpus(cremad_tones: Path) -> None:
    clip = scan_corpus(cremad_tones)[0]
    assert clip.speaker == f"crema-d:{clip.actor}" == "crema-d:1001"
