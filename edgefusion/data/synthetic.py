"""A small SYNTHETIC corpus in the CREMA-D layout, for tests and the demo.

Nothing here is real emotional data: the speech is robot speech from the ``espeak-ng``
synthesizer and the faces are cartoon faces drawn with OpenCV. Each emotion gets its own
prosody (pitch, speed, loudness, word gap) and its own drawn expression (mouth, brows, eyes),
and each actor their own voice and look, so that the whole pipeline (reading, windows,
training, splits by actor, export, live) can run end to end on a machine without CREMA-D.
A model's score on this corpus says nothing about recognising emotion in people: it is a
test fixture, not a benchmark.

Layout, as CREMA-D's::

    OUT/AudioWAV/1001_DFA_ANG_XX.wav     16 kHz mono PCM16
    OUT/VideoFlash/1001_DFA_ANG_XX.mp4   mp4v, 15 fps, 240x180 BGR, as long as the audio

The faces are drawn so that OpenCV's frontal-face Haar cascade finds them in nearly every
frame: shaded face on a contrasting background, dark eye sockets, a lighter nose bridge.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import soxr

from edgefusion.config import SAMPLE_RATE
from edgefusion.data.audio import RESAMPLE_QUALITY
from edgefusion.errors import EdgefusionError, located
from edgefusion.labels import CLASSES

# ---- layout --------------------------------------------------------------------------------

# The twelve CREMA-D sentences, in the corpus's order.
SENTENCES: dict[str, str] = {
    "DFA": "Don't forget a jacket",
    "IEO": "It's eleven o'clock",
    "IOM": "I'm on my way to the meeting",
    "ITH": "I think I have a doctor's appointment",
    "ITS": "I think I've seen this before",
    "IWL": "I would like a new alarm clock",
    "IWW": "I wonder what this is about",
    "MTI": "Maybe tomorrow it will be cold",
    "TAI": "The airplane is almost full",
    "TIE": "That is exactly what happened",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVEL = "XX"  # CREMA-D's "unspecified" intensity
FIRST_ACTOR = 1001
AUDIO_DIR = "AudioWAV"
VIDEO_DIR = "VideoFlash"
WORKERS = 2  # clips made at once; espeak-ng, soxr and OpenCV all release the GIL
MARKER = "SYNTHETIC.txt"  # written into every corpus make_corpus makes: it may rewrite such a folder

# ---- speech --------------------------------------------------------------------------------

ESPEAK = "espeak-ng"
ESPEAK_MISSING = (
    "espeak-ng not found: install it (apt-get install espeak-ng) to make a synthetic corpus"
)
ESPEAK_PITCH_RANGE = (0, 99)
ACTOR_VOICES: tuple[str, ...] = (
    "en+m3", "en+f2", "en+m1", "en+f4", "en+m7", "en+f3", "en+m2", "en+f1", "en+m5", "en+f5",
)
ACTOR_PITCH_OFFSET = 8  # each actor's pitch moves by up to this many espeak units
NOISE_RMS = 0.003  # white noise under every clip, full scale = 1
GAIN_RANGE = (0.7, 0.9)  # per-clip level; headroom, as espeak-ng peaks near full scale
LEAD_SILENCE = (0.05, 0.25)  # seconds of noise before the speech starts

# ---- pictures ------------------------------------------------------------------------------

FPS = 15.0
FRAME_WIDTH, FRAME_HEIGHT = 240, 180
FOURCC = "mp4v"
FACE_HALF_WIDTH = (38.0, 46.0)  # pixels; the face is FACE_ASPECT times as tall as wide
FACE_ASPECT = 1.3
FACE_OFFSET = (25.0, 6.0)  # how far an actor's face may sit from the frame centre (x, y)
DRIFT_PX = 5.0  # slow head drift amplitude
JITTER_PX = 0.8  # per-frame shake
TILT_DEG = 3.0  # slow head roll amplitude
TALK_OPEN = 0.35  # how far the mouth opens with the loudness of the speech
BLUR_KERNEL = (5, 5)  # soft edges: Haar features like gradients more than hard lines
BLUR_SIGMA = 1.2
BROW_SHADE = 0.5  # brows darker than the hair: light brows on light skin fool the cascade

Color = tuple[int, int, int]  # BGR
SKIN_TONES: tuple[Color, ...] = (
    (150, 180, 225), (120, 155, 205), (95, 130, 180), (70, 100, 150), (170, 195, 235),
    (105, 140, 195),
)
HAIR_COLORS: tuple[Color, ...] = ((25, 25, 30), (30, 50, 80), (20, 20, 20), (60, 90, 140))
# cool or pale backgrounds, so that no skin tone melts into its background
BACKGROUNDS: tuple[Color, ...] = (
    (200, 200, 200), (90, 140, 90), (160, 120, 80), (220, 230, 235), (70, 70, 110),
    (120, 120, 60),
)
SHIRT_COLORS: tuple[Color, ...] = ((120, 60, 30), (40, 40, 150), (70, 110, 60), (90, 90, 90))
SCLERA: Color = (215, 220, 225)
IRIS: Color = (40, 50, 70)
PUPIL: Color = (10, 10, 10)
MOUTH_INSIDE: Color = (60, 40, 110)
LIPS: Color = (50, 50, 150)


@dataclass(frozen=True)
class Prosody:
    """espeak-ng settings: pitch 0-99 (-p), words a minute (-s), amplitude 0-200 (-a),
    pause between words in 10 ms units (-g)."""

    pitch: int
    speed: int
    amplitude: int
    gap: int


@dataclass(frozen=True)
class Expression:
    """A drawn expression; each field is a signed amount around the neutral face.

    ``smile`` > 0 turns the mouth corners up, < 0 down; ``mouth_open`` parts the lips;
    ``sneer`` lifts one mouth corner; ``brow_tilt`` > 0 lowers the inner brows (anger),
    < 0 raises them (sadness, fear); ``brow_raise`` lifts both brows; ``eye_open`` scales
    the eye height (1 = neutral).
    """

    smile: float = 0.0
    mouth_open: float = 0.0
    sneer: float = 0.0
    brow_tilt: float = 0.0
    brow_raise: float = 0.0
    eye_open: float = 1.0


EMOTION_PROSODY: dict[str, Prosody] = {
    "ANG": Prosody(pitch=40, speed=210, amplitude=190, gap=0),  # loud, fast
    "DIS": Prosody(pitch=28, speed=135, amplitude=110, gap=4),  # low, slow, drawn out
    "FEA": Prosody(pitch=85, speed=240, amplitude=90, gap=0),  # high, fastest
    "HAP": Prosody(pitch=72, speed=185, amplitude=150, gap=1),  # high, loud
    "NEU": Prosody(pitch=50, speed=165, amplitude=110, gap=1),  # espeak's defaults, roughly
    "SAD": Prosody(pitch=18, speed=105, amplitude=55, gap=8),  # low, slowest, quiet
}
EMOTION_FACE: dict[str, Expression] = {
    "ANG": Expression(smile=-0.3, mouth_open=0.15, brow_tilt=1.0, brow_raise=-0.3, eye_open=0.7),
    "DIS": Expression(smile=-0.6, mouth_open=0.05, sneer=0.8, brow_tilt=0.5, brow_raise=-0.2,
                      eye_open=0.55),
    "FEA": Expression(smile=-0.2, mouth_open=0.6, brow_tilt=-0.6, brow_raise=0.6, eye_open=1.3),
    "HAP": Expression(smile=1.0, mouth_open=0.35, brow_raise=0.2, eye_open=0.85),
    "NEU": Expression(),
    "SAD": Expression(smile=-1.0, brow_tilt=-0.8, brow_raise=0.1, eye_open=0.7),
}


@dataclass(frozen=True)
class Actor:
    """One synthetic speaker: a voice and a look."""

    actor_id: str
    voice: str
    pitch_offset: int
    skin: Color
    hair: Color
    background: Color
    shirt: Color
    face_width: float  # half-width of the face, pixels
    center: tuple[float, float]  # face centre, pixels


@dataclass(frozen=True)
class CorpusSummary:
    """What ``make_corpus`` wrote: clip count, actors, total seconds of audio, the folder."""

    clips: int
    actors: int
    audio_seconds: float
    path: Path


def make_corpus(
    out_dir: Path,
    actors: int = 6,
    sentences: int = 4,
    seed: int = 0,
    video: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusSummary:
    """Write a SYNTHETIC corpus in the CREMA-D layout under ``out_dir`` and summarise it.

    The clips are robot speech (espeak-ng) and drawn cartoon faces, for testing the pipeline
    and for the demo; the corpus is not a benchmark of emotion recognition. There is one clip
    per actor, sentence and emotion: ``actors`` x ``sentences`` x 6, actors 1001, 1002, ...,
    sentences the first ``sentences`` CREMA-D ones (``SENTENCES``). ``video=False`` writes the
    WAVs only. The same ``seed`` (>= 0) writes the same files. ``progress(done, total)`` is
    called after each clip. Raises ``EdgefusionError`` if espeak-ng is not installed.

    ``out_dir`` must be new, empty, or a corpus this function wrote before (its ``MARKER``
    file); the clips of an earlier corpus are deleted first, so none written with other
    settings is left behind to be trained on.
    """
    check_counts(actors, sentences, seed)
    espeak = _find_espeak()
    out_dir = Path(out_dir)
    _clear_earlier(out_dir)
    _make_dirs(out_dir, video)
    (out_dir / MARKER).write_text(
        "A SYNTHETIC corpus written by `edgefusion make-corpus` (espeak-ng robot speech, drawn faces;\n"
        f"actors={actors} sentences={sentences} seed={seed} video={video}). It exercises the pipeline;\n"
        "it is not emotional speech. make-corpus deletes and rewrites the clips of this folder.\n"
    )
    cast = [make_actor(i, seed) for i in range(actors)]
    jobs = [(a, s, e) for a in cast for s in list(SENTENCES)[:sentences] for e in CLASSES]
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="edgefusion-espeak-") as tmp:
        one = partial(_make_job, out_dir, Path(tmp), espeak, seed, video)
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for done, clip_seconds in enumerate(pool.map(one, jobs), start=1):
                seconds += clip_seconds
                if progress is not None:
                    progress(done, len(jobs))
    return CorpusSummary(clips=len(jobs), actors=actors, audio_seconds=seconds, path=out_dir)


def check_counts(actors: int, sentences: int, seed: int) -> None:
    """One-line errors for counts make_corpus cannot honour (named as make-corpus's options)."""
    if actors < 1:
        raise EdgefusionError(f"--actors must be at least 1, got {actors}")
    if not 1 <= sentences <= len(SENTENCES):
        raise EdgefusionError(f"--sentences must be 1 to {len(SENTENCES)}, got {sentences}")
    if seed < 0:
        raise EdgefusionError(f"--seed must be 0 or more, got {seed}")


def _clear_earlier(out_dir: Path) -> None:
    """Delete the clips of a corpus make_corpus wrote in ``out_dir``; refuse any other non-empty folder."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise EdgefusionError(located(out_dir, "is a file, not a folder to write a corpus into"))
    if not any(out_dir.iterdir()):
        return
    if not (out_dir / MARKER).is_file():
        problem = "is not empty and holds no corpus written by make-corpus: give a new or empty folder"
        raise EdgefusionError(located(out_dir, problem))
    for sub in (AUDIO_DIR, VIDEO_DIR):
        shutil.rmtree(out_dir / sub, ignore_errors=True)


def _make_dirs(out_dir: Path, video: bool) -> None:
    try:
        (out_dir / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
        if video:
            (out_dir / VIDEO_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = f"cannot create the corpus folders ({err.strerror})"
        raise EdgefusionError(located(out_dir, problem)) from err


def _make_job(
    out_dir: Path, tmp_dir: Path, espeak: str, seed: int, video: bool, job: tuple[Actor, str, str]
) -> float:
    actor, sentence, emotion = job
    return make_clip(out_dir, tmp_dir, espeak, actor, sentence, emotion, seed=seed, video=video)


def make_clip(
    out_dir: Path,
    tmp_dir: Path,
    espeak: str,
    actor: Actor,
    sentence: str,
    emotion: str,
    seed: int = 0,
    video: bool = True,
) -> float:
    """Write one clip's WAV (and MP4) under ``out_dir``; return its length in seconds."""
    rng = clip_rng(seed, actor, sentence, emotion)
    stem = clip_name(actor.actor_id, sentence, emotion)
    audio = synth_speech(espeak, actor, sentence, emotion, tmp_dir / f"{stem}.wav", rng)
    sf.write(out_dir / AUDIO_DIR / f"{stem}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    if video:
        frames = face_frames(actor, EMOTION_FACE[emotion], audio, rng)
        write_video(out_dir / VIDEO_DIR / f"{stem}.mp4", frames)
    return len(audio) / SAMPLE_RATE


def clip_name(actor_id: str, sentence: str, emotion: str) -> str:
    """The CREMA-D file stem, e.g. ``1001_DFA_ANG_XX``."""
    return f"{actor_id}_{sentence}_{emotion}_{LEVEL}"


def make_actor(index: int, seed: int = 0) -> Actor:
    """The ``index``-th actor (0-based): voice, pitch offset and look, fixed by ``seed``."""
    rng = np.random.default_rng([seed, index])
    return Actor(
        actor_id=str(FIRST_ACTOR + index),
        voice=ACTOR_VOICES[index % len(ACTOR_VOICES)],
        pitch_offset=int(rng.integers(-ACTOR_PITCH_OFFSET, ACTOR_PITCH_OFFSET + 1)),
        skin=SKIN_TONES[index % len(SKIN_TONES)],
        hair=HAIR_COLORS[int(rng.integers(len(HAIR_COLORS)))],
        background=BACKGROUNDS[index % len(BACKGROUNDS)],
        shirt=SHIRT_COLORS[int(rng.integers(len(SHIRT_COLORS)))],
        face_width=float(rng.uniform(*FACE_HALF_WIDTH)),
        center=(
            FRAME_WIDTH / 2 + float(rng.uniform(-FACE_OFFSET[0], FACE_OFFSET[0])),
            FRAME_HEIGHT / 2 + float(rng.uniform(-FACE_OFFSET[1], FACE_OFFSET[1])),
        ),
    )


def clip_rng(seed: int, actor: Actor, sentence: str, emotion: str) -> np.random.Generator:
    """The clip's own random stream, so clips do not depend on the order they are made in."""
    keys = [int(actor.actor_id), list(SENTENCES).index(sentence), CLASSES.index(emotion)]
    return np.random.default_rng([seed, *keys])


# ---- speech --------------------------------------------------------------------------------


def _find_espeak() -> str:
    path = shutil.which(ESPEAK)
    if path is None:
        raise EdgefusionError(ESPEAK_MISSING)
    return path


def synth_speech(
    espeak: str, actor: Actor, sentence: str, emotion: str, tmp_wav: Path, rng: np.random.Generator
) -> np.ndarray:
    """One clip's audio: float32 mono at ``SAMPLE_RATE``, speech plus a little noise."""
    speak(espeak, SENTENCES[sentence], actor.voice, actor_prosody(actor, emotion), tmp_wav)
    speech, rate = sf.read(tmp_wav, dtype="float32", always_2d=False)
    return add_noise(resample(speech, rate), rng)


def actor_prosody(actor: Actor, emotion: str) -> Prosody:
    """The emotion's prosody in this actor's voice (pitch moved by the actor's offset)."""
    p = EMOTION_PROSODY[emotion]
    low, high = ESPEAK_PITCH_RANGE
    pitch = min(high, max(low, p.pitch + actor.pitch_offset))
    return Prosody(pitch=pitch, speed=p.speed, amplitude=p.amplitude, gap=p.gap)


def speak(espeak: str, text: str, voice: str, prosody: Prosody, wav_path: Path) -> None:
    """Render ``text`` with espeak-ng into ``wav_path`` (at espeak's own 22 050 Hz)."""
    cmd = [
        espeak, "-v", voice, "-p", str(prosody.pitch), "-s", str(prosody.speed),
        "-a", str(prosody.amplitude), "-g", str(prosody.gap), "-w", str(wav_path), text,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as err:
        raise EdgefusionError(f"{ESPEAK_MISSING} ({err.strerror})") from err
    if done.returncode != 0 or not wav_path.is_file():
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise EdgefusionError(f"espeak-ng failed on {text!r}: {detail}")


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono float audio from ``rate`` to ``SAMPLE_RATE`` with soxr."""
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32)
    return soxr.resample(audio, rate, SAMPLE_RATE, quality=RESAMPLE_QUALITY).astype(np.float32)


def add_noise(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale the speech, put a little silence before it and white noise under all of it."""
    lead = np.zeros(round(rng.uniform(*LEAD_SILENCE) * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([lead, speech * rng.uniform(*GAIN_RANGE)])
    audio = audio + NOISE_RMS * rng.standard_normal(len(audio))
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


# ---- pictures ------------------------------------------------------------------------------


def face_frames(
    actor: Actor, expression: Expression, audio: np.ndarray, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """The clip's frames, as long as ``audio``: the actor's face with ``expression``,
    drifting and shaking a little, the mouth opening with the loudness of the speech."""
    phase = rng.uniform(0, 2 * math.pi, size=3)
    for i, loudness in enumerate(frame_loudness(audio)):
        t = i / FPS
        dx = DRIFT_PX * math.sin(0.9 * t + phase[0]) + JITTER_PX * rng.standard_normal()
        dy = 0.6 * DRIFT_PX * math.sin(1.3 * t + phase[1]) + JITTER_PX * rng.standard_normal()
        tilt = TILT_DEG * math.sin(0.7 * t + phase[2])
        yield draw_face(actor, expression, (dx, dy), tilt, TALK_OPEN * loudness)


def frame_loudness(audio: np.ndarray) -> np.ndarray:
    """RMS of the audio under each video frame, 0..1 relative to the loudest frame."""
    n = max(1, round(len(audio) / SAMPLE_RATE * FPS))
    edges = np.linspace(0, len(audio), n + 1).astype(int)
    frames = pairwise(edges)
    rms = np.array([np.sqrt(np.mean(audio[a:b] ** 2)) if b > a else 0.0 for a, b in frames])
    return rms / max(float(rms.max()), 1e-6)


@dataclass(frozen=True)
class _Head:
    """Where the face is in this frame; places points and sizes in face units."""

    cx: float
    cy: float
    w: float  # half-width
    h: float  # half-height

    def at(self, fx: float, fy: float) -> tuple[int, int]:
        return round(self.cx + fx * self.w), round(self.cy + fy * self.h)

    def size(self, fx: float, fy: float) -> tuple[int, int]:
        return max(1, round(fx * self.w)), max(1, round(fy * self.h))

    def px(self, fx: float) -> int:
        return max(1, round(fx * self.w))


def draw_face(
    actor: Actor, expression: Expression, shift: tuple[float, float], tilt: float, talk: float
) -> np.ndarray:
    """One BGR frame: background, shoulders, hair, a shaded face with eyes, brows, nose and
    mouth, moved by ``shift`` pixels, rolled by ``tilt`` degrees, the mouth opened by ``talk``."""
    img = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
    img[:] = actor.background
    cx, cy = actor.center[0] + shift[0], actor.center[1] + shift[1]
    head = _Head(cx, cy, actor.face_width, FACE_ASPECT * actor.face_width)
    _draw_body(img, actor, head)
    _draw_head(img, actor, head)
    _draw_eyes(img, actor, expression, head)
    _draw_nose(img, actor, head)
    _draw_mouth(img, expression, talk, head)
    if tilt:
        rot = cv2.getRotationMatrix2D((cx, cy), tilt, 1.0)
        img = cv2.warpAffine(img, rot, (FRAME_WIDTH, FRAME_HEIGHT), borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(img, BLUR_KERNEL, BLUR_SIGMA)


def _shade(color: Color, factor: float) -> Color:
    b, g, r = (int(min(255, max(0, c * factor))) for c in color)
    return b, g, r


def _ellipse(img: np.ndarray, center: tuple[int, int], axes: tuple[int, int], color: Color) -> None:
    cv2.ellipse(img, center, axes, 0, 0, 360, color, -1)


def _draw_body(img: np.ndarray, actor: Actor, head: _Head) -> None:
    cv2.rectangle(img, head.at(-0.45, 0.6), head.at(0.45, 1.3), _shade(actor.skin, 0.8), -1)
    cv2.ellipse(img, head.at(0, 1.55), head.size(2.0, 0.6), 0, 180, 360, actor.shirt, -1)


def _draw_head(img: np.ndarray, actor: Actor, head: _Head) -> None:
    _ellipse(img, head.at(0, -0.12), head.size(1.08, 1.0), actor.hair)
    for side in (-1, 1):  # ears
        _ellipse(img, head.at(side * 0.98, 0.02), head.size(0.14, 0.2), _shade(actor.skin, 0.85))
    _ellipse(img, head.at(0, 0), head.size(1.0, 1.0), _shade(actor.skin, 0.82))  # shaded rim
    _ellipse(img, head.at(0, 0.04), head.size(0.86, 0.9), actor.skin)
    cv2.ellipse(img, head.at(0, -0.72), head.size(0.95, 0.36), 0, 180, 360, actor.hair, -1)


def _draw_eyes(img: np.ndarray, actor: Actor, ex: Expression, head: _Head) -> None:
    eye_y = -0.12
    eye_height = max(0.01, 0.075 * ex.eye_open)
    for side in (-1, 1):
        eye = head.at(side * 0.4, eye_y)
        _ellipse(img, eye, head.size(0.3, 0.13), _shade(actor.skin, 0.6))  # socket
        _ellipse(img, eye, head.size(0.19, eye_height), SCLERA)
        iris = min(0.1 * head.w, eye_height * head.h)
        cv2.circle(img, eye, max(1, round(iris)), IRIS, -1)
        cv2.circle(img, eye, max(1, round(0.5 * iris)), PUPIL, -1)
        brow_y = eye_y - 0.2 - 0.06 * ex.brow_raise
        inner = head.at(side * 0.12, brow_y + 0.07 * ex.brow_tilt)
        outer = head.at(side * 0.66, brow_y - 0.02 * ex.brow_tilt)
        cv2.line(img, inner, outer, _shade(actor.hair, BROW_SHADE), max(2, head.px(0.09)))


def _draw_nose(img: np.ndarray, actor: Actor, head: _Head) -> None:
    bridge = _shade(actor.skin, 1.12)  # lighter than the eye sockets either side
    cv2.line(img, head.at(0, -0.1), head.at(0, 0.16), bridge, max(2, head.px(0.12)))
    _ellipse(img, head.at(0, 0.2), head.size(0.17, 0.06), _shade(actor.skin, 0.7))
    for side in (-1, 1):  # nostrils
        cv2.circle(img, head.at(side * 0.08, 0.21), head.px(0.04), _shade(actor.skin, 0.4), -1)


def _draw_mouth(img: np.ndarray, ex: Expression, talk: float, head: _Head) -> None:
    xs = np.linspace(-1.0, 1.0, 13)
    upper = 0.48 - ex.smile * 0.09 * (xs**2 - 0.5) - ex.sneer * 0.05 * xs
    lower = upper + (ex.mouth_open + talk) * 0.16 * (1 - xs**2) + 0.02
    outline = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]])
    poly = np.round([[head.cx + 0.34 * x * head.w, head.cy + y * head.h] for x, y in outline])
    poly = poly.astype(np.int32)
    cv2.fillPoly(img, [poly], MOUTH_INSIDE)
    cv2.polylines(img, [poly], True, LIPS, head.px(0.05))


def write_video(path: Path, frames: Iterable[np.ndarray]) -> None:
    """Write BGR ``frames`` (``FRAME_WIDTH`` x ``FRAME_HEIGHT``) to ``path`` as mp4v at ``FPS``."""
    fourcc = cv2.VideoWriter_fourcc(*FOURCC)
    writer = cv2.VideoWriter(str(path), fourcc, FPS, (FRAME_WIDTH, FRAME_HEIGHT))
    if not writer.isOpened():
        raise EdgefusionError(located(path, f"OpenCV cannot write {FOURCC} video here"))
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
