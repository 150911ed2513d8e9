"""Cutting clips into the model's input windows.

A window is ``window_seconds`` of audio (zero-padded when the clip is shorter) and the
``frames`` face crops spread evenly over the same span. Training draws one random window per
clip per epoch; scoring walks the whole clip with a fixed hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefusion.config import ModelConfig
from edgefusion.data.audio import change_speed, fit_length
from edgefusion.data.video import FaceTrack, select_frames


@dataclass
class Window:
    audio: np.ndarray | None  # float32 [S]
    video: np.ndarray | None  # uint8 [T, H, W, 3]


def clip_seconds(audio: np.ndarray | None, track: FaceTrack | None, sample_rate: int) -> float:
    if audio is not None:
        return len(audio) / sample_rate
    return track.duration if track is not None else 0.0


def cut_window(
    audio: np.ndarray | None, track: FaceTrack | None, start: float, cfg: ModelConfig, speed: float = 1.0
) -> Window:
    """The window starting at ``start`` seconds.

    At ``speed`` != 1 (training's speed perturbation) the window covers ``window_seconds * speed``
    of the clip, played back to fit ``window_samples``; its faces span the same stretch.
    """
    span = cfg.window_seconds * speed
    a = None
    if audio is not None:
        a = fit_length(np.asarray(audio), round(span * cfg.sample_rate), round(start * cfg.sample_rate))
        if speed != 1.0:
            a = fit_length(change_speed(a, speed, cfg.sample_rate), cfg.window_samples)
    v = None
    if track is not None and len(track.crops):
        v = select_frames(track, start, start + span, cfg.frames)
    return Window(a, v)


def random_window(
    audio: np.ndarray | None,
    track: FaceTrack | None,
    cfg: ModelConfig,
    rng: np.random.Generator,
    speed: float = 1.0,
) -> Window:
    """A window at a uniformly random start (time-shift augmentation), played at ``speed``."""
    slack = clip_seconds(audio, track, cfg.sample_rate) - cfg.window_seconds * speed
    start = float(rng.uniform(0.0, slack)) if slack > 0 else 0.0
    return cut_window(audio, track, start, cfg, speed)


def scoring_starts(seconds: float, window: float, hop: float) -> list[float]:
    """Window starts covering a clip: every ``hop`` seconds, the last one flush with the end."""
    if seconds <= window:
        return [0.0]
    starts = list(np.arange(0.0, seconds - window, hop))
    starts.append(seconds - window)
    return [float(s) for s in starts]
