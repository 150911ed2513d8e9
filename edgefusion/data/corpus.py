"""Corpus readers: five file layouts -> a list of ``Clip`` records.

CREMA-D (``crema-d``)::

    DATA/AudioWAV/1001_DFA_ANG_XX.wav        actor _ sentence _ emotion _ level
    DATA/VideoFlash/1001_DFA_ANG_XX.flv|mp4  same stem; either folder may be missing

RAVDESS (``ravdess``)::

    DATA/Actor_01/03-01-05-01-02-01-01.wav   modality-channel-emotion-intensity-statement-repetition-actor
    DATA/Actor_01/01-01-05-01-02-01-01.mp4   modality 01 audio-video, 02 video-only, 03 audio-only

EmoDB (``emodb``)::

    DATA/wav/03a01Fa.wav                     speaker SS, text TTT, emotion E, version V

EMOVO (``emovo``)::

    DATA/m1/dis-m1-b1.wav                    emotion-speaker-sentence; speakers f1 f2 f3 m1 m2 m3

TESS (``tess``)::

    DATA/OAF_angry/OAF_back_angry.wav        folder SPEAKER_EMOTION, file SPEAKER_WORD_EMOTION

A RAVDESS utterance is one clip: its audio from the ``03`` WAV, its pictures from the ``01`` or
``02`` MP4. Emotions without one of the six classes are dropped: RAVDESS calm (which can be
merged into neutral instead) and surprised, EmoDB boredom, EMOVO and TESS surprise. TESS folder
names vary in case and spelling between public copies (``OAF_Fear``, ``YAF_pleasant_surprised``):
they are matched case-insensitively, and a TESS label is its folder's. The layout is detected per
folder; a folder that holds one corpus folder (``TESS Toronto emotional speech set data/``) is
read through it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgefusion.config import MODALITIES
from edgefusion.errors import DataError, located
from edgefusion.labels import (
    CLASSES,
    CREMAD_CODES,
    EMODB_EMOTIONS,
    EMOVO_EMOTIONS,
    EMOVO_SPEAKERS,
    RAVDESS_CALM,
    RAVDESS_EMOTIONS,
    TESS_EMOTIONS,
    TESS_SPEAKERS,
)
from edgefusion.wording import plural

AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg"})
VIDEO_EXTS = frozenset({".mp4", ".flv", ".avi", ".mkv", ".mov"})
CREMAD_AUDIO_DIR = "AudioWAV"
CREMAD_VIDEO_DIR = "VideoFlash"
CREMAD_NAME = re.compile(r"^(\d+)_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
RAVDESS_DIR = re.compile(r"^Actor_\d+$")
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
RAVDESS_AUDIO_ONLY, RAVDESS_AUDIO_VIDEO, RAVDESS_VIDEO_ONLY = "03", "01", "02"
EMODB_DIR = "wav"
EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Za-z])([a-z])$")
EMOVO_NAME = re.compile(r"^([a-z]{3})-([a-z]\d)-([a-z]\d)$", re.IGNORECASE)
TESS_DIR = re.compile(rf"^({'|'.join(TESS_SPEAKERS)})_(.+)$", re.IGNORECASE)
TESS_NAME = re.compile(rf"^({'|'.join(TESS_SPEAKERS)})_([^_]+)_(.+)$", re.IGNORECASE)
IGNORED_DIRS = frozenset({"__MACOSX"})  # macOS zip resource forks
UNKNOWN_LAYOUT = (
    "no known corpus layout: found no CREMA-D AudioWAV/ or VideoFlash/, RAVDESS Actor_NN/, EmoDB wav/, "
    "EMOVO f1..m3/ or TESS OAF_*/YAF_* folder (nor one folder down)"
)


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

    @property
    def speaker(self) -> str:
        """The actor namespaced by its corpus, ``"emodb:03"``: ids of two corpora never collide."""
        return f"{self.corpus}:{self.actor}"


def trained_modalities(clips: Sequence[Clip]) -> list[str]:
    """The modalities ``clips`` carry data for, in ``MODALITIES`` order: what a model trained on them learns."""
    have = {"audio": any(c.audio is not None for c in clips), "video": any(c.video is not None for c in clips)}
    return [m for m in MODALITIES if have[m]]


@dataclass(frozen=True)
class Layout:
    """A corpus's file layout: how to recognise a folder in it and how to read it."""

    corpus: str  # the short name: Clip.corpus, and the namespace of Clip.speaker
    title: str  # as people write it
    detect: Callable[[Path], bool]
    read: Callable[[Path, bool], list[Clip]]  # (folder, calm_as_neutral) -> clips


def find_layout(root: str | Path) -> tuple[Layout, Path]:
    """(layout, the folder holding it): ``root`` itself, or the one corpus folder inside it.

    One-line ``DataError`` for a missing, empty or unrecognised folder, and for one that holds
    several corpus folders.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(located(root, "no such folder"))
    if not root.is_dir():
        raise DataError(located(root, "not a folder (expected a corpus folder)"))
    if not any(root.iterdir()):
        raise DataError(located(root, "folder is empty"))
    layout = _layout_of(root)
    if layout is not None:
        return layout, root
    inner = [(layout, d) for d in _subfolders(root) if (layout := _layout_of(d)) is not None]
    if len(inner) > 1:
        names = ", ".join(f"{d.name}/ ({layout.title})" for layout, d in inner)
        raise DataError(located(root, f"holds several corpora ({names}): give each folder as its own DATA"))
    if inner:
        return inner[0]
    raise DataError(located(root, UNKNOWN_LAYOUT))


def scan_corpus(root: str | Path, calm_as_neutral: bool = False) -> list[Clip]:
    """Find every clip under ``root`` (any layout of ``LAYOUTS``), sorted by id."""
    layout, folder = find_layout(root)
    clips = layout.read(folder, calm_as_neutral)
    if not clips:
        raise DataError(located(folder, "no recognizable clips found in the corpus folders"))
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.clip_id in seen:
            first = seen[clip.clip_id]
            raise DataError(located(_file_of(clip), f"the same clip name as {_file_of(first)}"))
        seen[clip.clip_id] = clip
    return sorted(clips, key=lambda c: c.clip_id)


def _file_of(clip: Clip) -> Path:
    return clip.audio or clip.video  # type: ignore[return-value]  # a clip has at least one


def _layout_of(folder: Path) -> Layout | None:
    return next((layout for layout in LAYOUTS if layout.detect(folder)), None)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in IGNORED_DIRS
    )


def _media_files(folder: Path, exts: frozenset[str]) -> list[Path]:
    """Files of ``folder`` with one of ``exts`` (hidden ones, like macOS's ``._x.wav``, left out)."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")
    )


# -- CREMA-D -----------------------------------------------------------------------------------


def _is_cremad(root: Path) -> bool:
    return (root / CREMAD_AUDIO_DIR).is_dir() or (root / CREMAD_VIDEO_DIR).is_dir()


def _scan_cremad(root: Path, calm_as_neutral: bool = False) -> list[Clip]:
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


# -- RAVDESS -----------------------------------------------------------------------------------


def _ravdess_dirs(root: Path) -> list[Path]:
    return [p for p in _subfolders(root) if RAVDESS_DIR.match(p.name)]


def _scan_ravdess(root: Path, calm_as_neutral: bool) -> list[Clip]:
    audio: dict[tuple[str, ...], Path] = {}
    video: dict[tuple[str, ...], Path] = {}
    for actor_dir in _ravdess_dirs(root):
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


# -- EmoDB -------------------------------------------------------------------------------------


def _is_emodb(root: Path) -> bool:
    return any(EMODB_NAME.match(p.stem) for p in _media_files(root / EMODB_DIR, AUDIO_EXTS))


def _scan_emodb(root: Path, calm_as_neutral: bool = False) -> list[Clip]:
    clips = []
    for path in _media_files(root / EMODB_DIR, AUDIO_EXTS):
        m = EMODB_NAME.match(path.stem)
        if not m:
            raise DataError(located(path, "not an EmoDB file name (expected SSTTTEV, e.g. 03a01Fa)"))
        speaker, _text, emotion, _version = m.groups()
        if emotion not in EMODB_EMOTIONS:
            raise DataError(
                located(path, f"unknown EmoDB emotion code '{emotion}' (expected one of {', '.join(EMODB_EMOTIONS)})")
            )
        code = EMODB_EMOTIONS[emotion]
        if code is not None:
            clips.append(Clip(path.stem, CREMAD_CODES[code], speaker, path, None, "emodb"))
    return clips


# -- EMOVO -------------------------------------------------------------------------------------


def _emovo_dirs(root: Path) -> list[Path]:
    return [p for p in _subfolders(root) if p.name.lower() in EMOVO_SPEAKERS]


def _scan_emovo(root: Path, calm_as_neutral: bool = False) -> list[Clip]:
    clips = []
    for folder in _emovo_dirs(root):
        for path in _media_files(folder, AUDIO_EXTS):
            m = EMOVO_NAME.match(path.stem)
            if not m:
                raise DataError(located(path, "not an EMOVO file name (expected EMO-SPK-SEN, e.g. dis-m1-b1)"))
            emotion, speaker, _sentence = (g.lower() for g in m.groups())
            if emotion not in EMOVO_EMOTIONS:
                expected = ", ".join(EMOVO_EMOTIONS)
                raise DataError(located(path, f"unknown EMOVO emotion '{emotion}' (expected one of {expected})"))
            if speaker != folder.name.lower():
                raise DataError(located(path, f"names speaker {speaker} but lies in folder {folder.name}/"))
            code = EMOVO_EMOTIONS[emotion]
            if code is not None:
                clips.append(Clip(path.stem, CREMAD_CODES[code], speaker, path, None, "emovo"))
    return clips


# -- TESS --------------------------------------------------------------------------------------


def _tess_dirs(root: Path) -> list[Path]:
    return [p for p in _subfolders(root) if TESS_DIR.match(p.name)]


def _scan_tess(root: Path, calm_as_neutral: bool = False) -> list[Clip]:
    clips = []
    for folder in _tess_dirs(root):
        m = TESS_DIR.match(folder.name)
        assert m is not None  # _tess_dirs matched it
        speaker, emotion = m.group(1).upper(), "_".join(m.group(2).lower().split())
        if emotion not in TESS_EMOTIONS:
            expected = "angry, disgust, fear, happy, neutral, sad, pleasant_surprise or ps"
            raise DataError(located(folder, f"unknown TESS emotion '{m.group(2)}' (expected {expected})"))
        code = TESS_EMOTIONS[emotion]
        for path in _media_files(folder, AUDIO_EXTS):
            name = TESS_NAME.match(path.stem)
            if not name:
                raise DataError(
                    located(path, "not a TESS file name (expected SPEAKER_WORD_EMOTION, e.g. OAF_back_angry)")
                )
            if name.group(1).upper() != speaker:
                raise DataError(located(path, f"names speaker {name.group(1)} but lies in folder {folder.name}/"))
            if code is not None:
                clips.append(Clip(path.stem, CREMAD_CODES[code], speaker, path, None, "tess"))
    return clips


LAYOUTS: tuple[Layout, ...] = (  # detection order: the first layout a folder matches reads it
    Layout("crema-d", "CREMA-D", _is_cremad, _scan_cremad),
    Layout("ravdess", "RAVDESS", lambda root: bool(_ravdess_dirs(root)), _scan_ravdess),
    Layout("emodb", "EmoDB", _is_emodb, _scan_emodb),
    Layout("emovo", "EMOVO", lambda root: bool(_emovo_dirs(root)), _scan_emovo),
    Layout("tess", "TESS", lambda root: bool(_tess_dirs(root)), _scan_tess),
)
CORPUS_TITLES: dict[str, str] = {layout.corpus: layout.title for layout in LAYOUTS}


def corpus_summary(clips: list[Clip]) -> str:
    """One line: clip count, actors (speakers: two corpora's actor 01 are two), per-class counts, modalities."""
    counts = Counter(c.label_code for c in clips)
    speakers = {c.speaker for c in clips}
    with_audio = sum(c.audio is not None for c in clips)
    with_video = sum(c.video is not None for c in clips)
    per_class = " ".join(f"{k}={counts.get(k, 0)}" for k in CLASSES)
    who = f"{plural(len(clips), 'clip')}, {plural(len(speakers), 'actor')}"
    return f"{who}, {per_class}; audio {with_audio}, video {with_video}"
