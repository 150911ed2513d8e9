"""Cutting clips into the model's input windows.

A window is ``window_seconds`` of audio (zero-padded when the clip is shorter) and the
``frames`` face crops spread evenly over the same span. Training draws one random window per
clip per epoch; scoring walks the whole clip with a fixed hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefusion.config import ModelConfig
from edgefusion.data.audio import fit_length
from edgefusion.data.video import FaceTrack, select_frames


@dataclass
class Window:
    audio: np.ndarray | None  # float32 [S]
    video: np.ndarray | None  # uint8 [T, H, W, 3]


def clip_seconds(audio: np.ndarray | None, track: FaceTrack | None, sample_rate: int) -> float:
    if audio is not None:
        return len(audio) / sample_rate
    return track.duration if track is not None else 0.0


def cut_window(audio: np.ndarray | None, track: FaceTrack | None, start: float, cfg: ModelConfig) -> Window:
    """The window starting at ``start`` seconds."""
    a = None
    if audio is not None:
        a = fit_length(np.asarray(audio), cfg.window_samples, round(start * cfg.sample_rate))
    v = None
    if track is not None and len(track.crops):
        v = select_frames(track, start, start + cfg.window_seconds, cfg.frames)
    return Window(a, v)


def random_window(
    audio: np.ndarray | None, track: FaceTrack | None, cfg: ModelConfig, rng: np.random.Generator
) -> Window:
    """A window at a uniformly random start (time-shift augmentation)."""
    slack = clip_seconds(audio, track, cfg.sample_rate) - cfg.window_seconds
    start = float(rng.uniform(0.0, slack)) if slack > 0 else 0.0
    return cut_window(audio, track, start, cfg)


def scoring_starts(seconds: float, window: float, hop: float) -> list[float]:
    """Window starts covering a clip: every ``hop`` seconds, the last one flush with the end."""
    if seconds <= window:
        return [0.0]
    starts = list(np.arange(0.0, seconds - window, hop))
    starts.append(seconds - window)
    return [float(s) for s in starts]
