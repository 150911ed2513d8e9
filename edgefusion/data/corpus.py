"""Corpus readers: CREMA-D and RAVDESS file layouts -> a list of ``Clip`` records.

CREMA-D::

    DATA/AudioWAV/1001_DFA_ANG_XX.wav        actor _ sentence _ emotion _ level
    DATA/VideoFlash/1001_DFA_ANG_XX.flv|mp4  same stem; either folder may be missing

RAVDESS::

    DATA/Actor_01/03-01-05-01-02-01-01.wav   modality-channel-emotion-intensity-statement-repetition-actor
    DATA/Actor_01/01-01-05-01-02-01-01.mp4   modality 01 audio-video, 02 video-only, 03 audio-only

A RAVDESS utterance is one clip: its audio from the ``03`` WAV, its pictures from the ``01`` or
``02`` MP4. Calm (02) and surprised (08) have no CREMA-D class and are dropped; calm can be
merged into neutral instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgefusion.errors import DataError, located
from edgefusion.labels import CLASSES, CREMAD_CODES, RAVDESS_CALM, RAVDESS_EMOTIONS
from edgefusion.wording import plural

AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg"})
VIDEO_EXTS = frozenset({".mp4", ".flv", ".avi", ".mkv", ".mov"})
CREMAD_AUDIO_DIR = "AudioWAV"
CREMAD_VIDEO_DIR = "VideoFlash"
CREMAD_NAME = re.compile(r"^(\d+)_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
RAVDESS_DIR = re.compile(r"^Actor_\d+$")
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
RAVDESS_AUDIO_ONLY, RAVDESS_AUDIO_VIDEO, RAVDESS_VIDEO_ONLY = "03", "01", "02"


@dataclass(frozen=True)
class Clip:
    """One labelled utterance. At least one of ``audio`` and ``video`` is set."""

    clip_id: str
    label: int
    actor: str
    audio: Path | None
    video: Path | None
    corpus: str

    @property
    def label_code(self) -> str:
        return CLASSES[self.label]


def scan_corpus(root: str | Path, calm_as_neutral: bool = False) -> list[Clip]:
    """Find every clip under ``root`` (CREMA-D or RAVDESS layout), sorted by id."""
    root = Path(root)
    if not root.exists():
        raise DataError(located(root, "no such folder"))
    if not root.is_dir():
        raise DataError(located(root, "not a folder (expected a corpus folder in CREMA-D or RAVDESS layout)"))
    if not any(root.iterdir()):
        raise DataError(located(root, "folder is empty"))
    if (root / CREMAD_AUDIO_DIR).is_dir() or (root / CREMAD_VIDEO_DIR).is_dir():
        clips = _scan_cremad(root)
    elif any(p.is_dir() and RAVDESS_DIR.match(p.name) for p in root.iterdir()):
        clips = _scan_ravdess(root, calm_as_neutral)
    else:
        raise DataError(located(root, "no CREMA-D (AudioWAV/, VideoFlash/) or RAVDESS (Actor_NN/) layout found"))
    if not clips:
        raise DataError(located(root, "no recognizable clips found in the corpus folders"))
    return sorted(clips, key=lambda c: c.clip_id)


def _media_files(folder: Path, exts: frozenset[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts)


def _scan_cremad(root: Path) -> list[Clip]:
    audio: dict[str, Path] = {}
    video: dict[str, Path] = {}
    for files, table in (
        (_media_files(root / CREMAD_AUDIO_DIR, AUDIO_EXTS), audio),
        (_media_files(root / CREMAD_VIDEO_DIR, VIDEO_EXTS), video),
    ):
        for path in files:
            table.setdefault(path.stem, path)
    clips = []
    for stem in sorted(set(audio) | set(video)):
        path = audio.get(stem) or video[stem]
        m = CREMAD_NAME.match(stem)
        if not m:
            raise DataError(
                located(path, "not a CREMA-D file name (expected ACTOR_SENTENCE_EMOTION_LEVEL, e.g. 1001_DFA_ANG_XX)")
            )
        actor, _sentence, emotion, _level = m.groups()
        if emotion not in CREMAD_CODES:
            raise DataError(located(path, f"unknown emotion code '{emotion}' (expected one of {', '.join(CLASSES)})"))
        clips.append(Clip(stem, CREMAD_CODES[emotion], actor, audio.get(stem), video.get(stem), "crema-d"))
    return clips


def _scan_ravdess(root: Path, calm_as_neutral: bool) -> list[Clip]:
    audio: dict[tuple[str, ...], Path] = {}
    video: dict[tuple[str, ...], Path] = {}
    for actor_dir in sorted(p for p in root.iterdir() if p.is_dir() and RAVDESS_DIR.match(p.name)):
        for path in _media_files(actor_dir, AUDIO_EXTS | VIDEO_EXTS):
            m = RAVDESS_NAME.match(path.stem)
            if not m:
                raise DataError(
                    located(path, "not a RAVDESS file name (expected MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-01-02-01-01)")
                )
            modality, *utterance = m.groups()
            emotion = utterance[1]
            if emotion not in RAVDESS_EMOTIONS:
                raise DataError(located(path, f"unknown RAVDESS emotion code '{emotion}' (expected 01-08)"))
            is_audio = path.suffix.lower() in AUDIO_EXTS
            if is_audio and modality == RAVDESS_AUDIO_ONLY:
                audio.setdefault(tuple(utterance), path)
            elif not is_audio and modality in (RAVDESS_AUDIO_VIDEO, RAVDESS_VIDEO_ONLY):
                video.setdefault(tuple(utterance), path)
    clips = []
    for key in sorted(set(audio) | set(video)):
        _channel, emotion, _intensity, _statement, _repetition, actor = key
        code = "NEU" if calm_as_neutral and emotion == RAVDESS_CALM else RAVDESS_EMOTIONS[emotion]
        if code is None:
            continue
        clips.append(Clip("-".join(key), CREMAD_CODES[code], actor, audio.get(key), video.get(key), "ravdess"))
    return clips


def corpus_summary(clips: list[Clip]) -> str:
    """One line: clip count, actors, per-class counts, modalities."""
    counts = Counter(c.label_code for c in clips)
    actors = sorted({c.actor for c in clips})
    with_audio = sum(c.audio is not None for c in clips)
    with_video = sum(c.video is not None for c in clips)
    per_class = " ".join(f"{k}={counts.get(k, 0)}" for k in CLASSES)
    who = f"{plural(len(clips), 'clip')}, {plural(len(actors), 'actor')}"
    return f"{who}, {per_class}; audio {with_audio}, video {with_video}"
