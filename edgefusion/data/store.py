"""Decoded clips, cached on disk so that epochs after the first never decode again.

Audio is stored as float32 ``.npy`` at the model's rate; face crops as uint8 ``.npy`` with their
times. Entries are keyed by the file's path, size and modification time and by the settings
that shaped them, so an edited clip or a changed setting is decoded afresh. Arrays are
memory-mapped back, so a corpus larger than RAM still trains.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgefusion.atomic import write_atomic
from edgefusion.config import ModelConfig
from edgefusion.data.audio import load_audio
from edgefusion.data.corpus import Clip
from edgefusion.data.faces import FaceDetector
from edgefusion.data.video import SAMPLE_FPS, FaceTrack, read_face_crops

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgefusion"


class ClipStore:
    """``audio(clip)`` -> float32 [S] or None; ``faces(clip)`` -> FaceTrack or None."""

    def __init__(self, cfg: ModelConfig, cache_dir: str | Path | None = None, face_fps: float = SAMPLE_FPS) -> None:
        self.cfg = cfg
        self.face_fps = face_fps
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._detector: FaceDetector | None = None
        self._audio: dict[str, np.ndarray] = {}
        self._faces: dict[str, FaceTrack] = {}

    def _key(self, path: Path, settings: str) -> Path:
        st = path.stat()
        text = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings}"
        return self.cache_dir / hashlib.sha1(text.encode()).hexdigest()

    def audio(self, clip: Clip) -> np.ndarray | None:
        if clip.audio is None:
            return None
        if clip.clip_id not in self._audio:
            key = self._key(clip.audio, f"audio|{self.cfg.sample_rate}")
            file = key.with_suffix(".audio.npy")
            if not file.exists():
                _save(file, load_audio(clip.audio, self.cfg.sample_rate))
            self._audio[clip.clip_id] = np.load(file, mmap_mode="r")
        return self._audio[clip.clip_id]

    def faces(self, clip: Clip) -> FaceTrack | None:
        if clip.video is None:
            return None
        if clip.clip_id not in self._faces:
            key = self._key(clip.video, f"faces|{self.cfg.frame_size}|{self.face_fps}")
            crops_file, meta_file = key.with_suffix(".crops.npy"), key.with_suffix(".meta.npz")
            if not (crops_file.exists() and meta_file.exists()):
                if self._detector is None:
                    self._detector = FaceDetector()
                track = read_face_crops(clip.video, self.cfg.frame_size, self._detector, self.face_fps)
                _save(crops_file, track.crops)
                meta_arrays = {
                    "times": track.times,
                    "counts": np.array([track.frames_read, track.frames_with_face]),
                    "duration": np.array(track.duration),
                }
                write_atomic(meta_file, lambda f: np.savez(f, **meta_arrays))
            meta = np.load(meta_file)
            self._faces[clip.clip_id] = FaceTrack(
                crops=np.load(crops_file, mmap_mode="r"),
                times=meta["times"],
                frames_read=int(meta["counts"][0]),
                frames_with_face=int(meta["counts"][1]),
                duration=float(meta["duration"]),
            )
        return self._faces[clip.clip_id]

    def preload(self, clips: Sequence[Clip], progress: Callable[[int], None] | None = None) -> None:
        """Decode (or map from cache) every clip once; ``progress(1)`` after each."""
        for clip in clips:
            self.audio(clip)
            self.faces(clip)
            if progress is not None:
                progress(1)


def _save(file: Path, array: np.ndarray) -> None:
    write_atomic(file, lambda f: np.save(f, array))
