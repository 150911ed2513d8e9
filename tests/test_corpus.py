"""Corpus readers on small corpora written by the tests, in both documented layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgefusion.data.corpus import corpus_summary, scan_corpus
from edgefusion.errors import DataError
from edgefusion.labels import CLASSES
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
        (lambda root: (root.mkdir(), (root / "x.wav").write_bytes(b"")), "no CREMA-D"),
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
