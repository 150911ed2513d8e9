"""Face tracks from video files: the largest face of each sampled frame, cropped.

``read_face_crops`` decodes a file with OpenCV, looks at about ``fps`` frames per second and
keeps one crop per frame in which a face was found, with its time. ``select_frames`` picks the
crops that stand for a time span, the model's video input for one window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgefusion.config import FRAME_SIZE
from edgefusion.data.faces import FaceDetector, crop_face
from edgefusion.errors import DataError, located, require_file

SAMPLE_FPS = 8.0  # frames per second looked at for faces
FALLBACK_FPS = 30.0  # assumed when the container reports no usable frame rate
MAX_FPS = 1000.0  # a reported rate above this is treated as unusable
NEAR_SECONDS = 1.0  # select_frames uses crops within the span widened by this much each side


@dataclass
class FaceTrack:
    """The face crops of one video, in time order.

    ``crops`` uint8 [N, size, size, 3] BGR; ``times`` float32 [N] seconds from the start;
    ``frames_read``: frames sampled and searched for a face; ``frames_with_face``: those in
    which one was found (= N); ``duration``: seconds of video decoded. ``boxes`` int32 [N, 4]
    (x, y, w, h) is each crop's detected face in source-frame pixels, or None where not kept
    (a track rebuilt from a cache).
    """

    crops: np.ndarray
    times: np.ndarray
    frames_read: int
    frames_with_face: int
    duration: float
    boxes: np.ndarray | None = None


def _open(path: Path) -> cv2.VideoCapture:
    """An opened capture; ``DataError`` for a missing, empty or unopenable file."""
    require_file(path, "video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(located(path, "OpenCV cannot open it as a video"))
    return cap


def container_fps(cap: cv2.VideoCapture) -> float:
    """The frame rate the container reports, or ``FALLBACK_FPS`` when it reports none."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and 0 < fps <= MAX_FPS else FALLBACK_FPS


def read_face_crops(
    path: str | Path,
    size: int = FRAME_SIZE,
    detector: FaceDetector | None = None,
    fps: float | None = SAMPLE_FPS,
) -> FaceTrack:
    """The largest face of about ``fps`` frames per second of ``path`` (None: every frame).

    Frame i is at ``i / container_fps`` seconds (``FALLBACK_FPS`` when the container reports no
    rate) and ``duration`` is the number of frames decoded over that rate, so a wrong frame count
    in the header does not matter. The first frame of each ``1 / fps`` interval is sampled.
    Sampled frames with no face are left out, so a video with no face gives N = 0.
    ``DataError`` (one line, naming the file) when the file is missing, cannot be opened, or
    yields no frames.
    """
    if fps is not None and not fps > 0:
        raise ValueError(f"read_face_crops: fps must be positive or None, got {fps}")
    path = Path(path)
    detector = detector if detector is not None else FaceDetector()
    cap = _open(path)
    rate = container_fps(cap)
    crops, times, boxes = [], [], []
    decoded = sampled = 0
    last_slot = -1
    try:
        while cap.grab():
            index, decoded = decoded, decoded + 1
            t = index / rate
            slot = index if fps is None else math.floor(t * fps + 1e-6)
            if slot == last_slot:
                continue
            last_slot = slot
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                continue
            sampled += 1
            box = detector.largest(frame)
            if box is not None:
                crops.append(crop_face(frame, box, size))
                times.append(t)
                boxes.append((box.x, box.y, box.w, box.h))
    finally:
        cap.release()
    if sampled == 0:
        raise DataError(located(path, "no video frames could be decoded"))
    return FaceTrack(
        crops=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        times=np.asarray(times, dtype=np.float32),
        frames_read=sampled,
        frames_with_face=len(crops),
        duration=decoded / rate,
        boxes=np.asarray(boxes, dtype=np.int32).reshape(-1, 4),
    )


def select_frames(track: FaceTrack, start: float, stop: float, count: int) -> np.ndarray | None:
    """``count`` crops of ``track`` standing for the span [start, stop) (``pick_frames``)."""
    return pick_frames(track.times, track.crops, start, stop, count)


def pick_frames(times: np.ndarray, crops: np.ndarray, start: float, stop: float, count: int) -> np.ndarray | None:
    """The windowing rule for faces, shared by training, ``eval`` and live runs: ``count`` crops
    standing for the span [start, stop), uint8 [count, size, size, 3].

    ``times`` [N] (seconds, ascending) of ``crops`` [N, size, size, 3]. The targets are the
    centres of ``count`` equal parts of the span; each gets the crop nearest in time among those
    "near" the span, i.e. with times in [start - NEAR_SECONDS, stop + NEAR_SECONDS] (ties: the
    earlier). A crop repeats when fewer crops than targets exist. Returns None when no crop is
    near the span (or there is none). A live run has no crop after ``stop`` (its present), a
    file does: a target near the end of a window may get a later crop offline than live.
    """
    chosen = pick_indices(times, start, stop, count)
    return None if chosen is None else np.asarray(crops[chosen], dtype=np.uint8)


def pick_indices(times: np.ndarray, start: float, stop: float, count: int) -> np.ndarray | None:
    """``pick_frames``'s choice as indices into ``times`` [count], or None when no time is near."""
    if count <= 0:
        raise ValueError(f"pick_frames: count must be positive, got {count}")
    times = np.asarray(times, dtype=np.float64)
    near = np.flatnonzero((times >= start - NEAR_SECONDS) & (times <= stop + NEAR_SECONDS))
    if near.size == 0:
        return None
    targets = start + (np.arange(count) + 0.5) * (stop - start) / count  # [count]
    return near[np.abs(times[near][None, :] - targets[:, None]).argmin(axis=1)]  # ties: the earlier
