"""Live face tracking: from camera frames to the model's video input (T face crops across the window).

``FaceStage`` runs the Haar ``FaceDetector`` on each frame (downscaled to ``detect_width``
inside the detector, boxes mapped back to full resolution), follows one face with a minimal
tracker, and keeps the square crops of the last ``window_seconds`` (and ``NEAR_SECONDS`` more)
in a preallocated ring. The model's T crops are chosen from them by timestamp across the window
that ends now, by the rule training and ``eval`` use (``data.video.pick_frames``): the crops
nearest the centres of T equal parts of the window, so the network sees the same spread of a
face live as it learned from. ``FaceThread``
feeds it from a ``VideoSource`` on its own thread (each new frame once) and hands the pipeline
and the overlay sink a consistent snapshot.

The tracker: with several faces, the one overlapping the tracked box most (IoU) wins, else the
largest; a frame with no detection keeps the last box for up to ``hold_frames`` frames (a blink,
a turned head), cropping the current frame there; after that the face is lost and the crop ring
is emptied, so a new face never mixes with an old one.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque

import numpy as np

from edgefusion.config import FRAME_SIZE, FRAMES, WINDOW_SECONDS
from edgefusion.data.faces import CROP_MARGIN, DETECT_WIDTH, Box, FaceDetector, crop_face
from edgefusion.data.video import NEAR_SECONDS, pick_indices
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.video_sources import FileVideoSource, Frame, VideoSource

HOLD_FRAMES = 5  # frames a lost face's last box is kept
MAX_CROP_AGE = 0.5  # seconds: crops older than this count as no face
MAX_CAMERA_FPS = 60.0  # the ring holds a window (and NEAR_SECONDS) of crops at up to this rate
POLL_SECONDS = 0.005  # FaceThread's pause when no new frame has arrived
TIMING_WINDOW = 512  # detection times kept for the median


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, in [0, 1]."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(0, w) * max(0, h)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class FaceStage:
    """Detect, track and crop one face per frame; keep a window's crops and choose ``frames`` of them.

    ``frames`` crops of ``size`` x ``size`` pixels, the square side ``max(w, h) * (1 + margin)``,
    chosen across the last ``window_seconds`` (the model's window);
    ``detect_width``: the longest side the detector shrinks frames to (ignored when a
    ``detector`` is given); ``hold_frames``: frames without a detection before the face is lost.
    Not thread-safe: one caller at a time (``FaceThread`` serialises access).
    """

    def __init__(
        self,
        frames: int = FRAMES,
        size: int = FRAME_SIZE,
        detect_width: int = DETECT_WIDTH,
        hold_frames: int = HOLD_FRAMES,
        margin: float = CROP_MARGIN,
        detector: FaceDetector | None = None,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        if frames < 1:
            raise ValueError(f"FaceStage: frames must be >= 1, got {frames}")
        self.frames = frames
        self.window_seconds = window_seconds
        self.capacity = max(frames, math.ceil((window_seconds + NEAR_SECONDS) * MAX_CAMERA_FPS))
        self.size = size
        self.hold_frames = hold_frames
        self.margin = margin
        self.detector = detector if detector is not None else FaceDetector(detect_width=detect_width)
        self.box: Box | None = None  # the tracked face, full-frame pixels
        self.missed = 0  # frames in a row without a detection
        self.detections = 0  # frames in which a face was detected
        self._crops = np.zeros((self.capacity, size, size, 3), dtype=np.uint8)  # ring [capacity, size, size, 3]
        self._times = np.full(self.capacity, math.nan)  # [capacity] clock time of each crop's frame
        self._count = 0  # crops in the ring (<= capacity)
        self._head = 0  # slot of the next crop

    def _choose(self, boxes: list[Box]) -> Box:
        """The tracked face among ``boxes`` (largest first): best IoU with the tracked box, else largest."""
        if self.box is not None:
            overlaps = [iou(b, self.box) for b in boxes]
            best = int(np.argmax(overlaps))
            if overlaps[best] > 0:
                return boxes[best]
        return boxes[0]

    def reset(self) -> None:
        """Forget the tracked face and the crops."""
        self.box = None
        self.missed = 0
        self._count = 0
        self._head = 0

    def update(self, frame: Frame) -> Box | None:
        """Detect and track the face in ``frame`` (image uint8 BGR [H, W, 3]); the box cropped, or None."""
        return self.track(frame, self.detector.detect(frame.image))

    def track(self, frame: Frame, boxes: list[Box]) -> Box | None:
        """The tracker and cropper, given ``frame``'s detections (full-frame pixels, largest first)."""
        if boxes:
            self.box = self._choose(boxes)
            self.missed = 0
            self.detections += 1
        elif self.box is not None:
            self.missed += 1
            if self.missed > self.hold_frames:
                self.reset()
        if self.box is None:
            return None
        self._crops[self._head] = crop_face(frame.image, self.box, self.size, self.margin)
        self._times[self._head] = frame.t
        self._head = (self._head + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        return self.box

    def crops(self, now: float, max_age: float = MAX_CROP_AGE) -> tuple[np.ndarray | None, Box | None, float]:
        """T crops across the window ending at ``now``, in time order: uint8 [T, size, size, 3]
        (``pick_frames``'s rule; a crop repeats while fewer than T stand for the window), or None
        when no face is tracked or the newest crop is older than ``max_age``; with the tracked box
        and the newest crop's age in seconds (inf: none)."""
        if self._count == 0:
            return None, self.box, math.inf
        newest = (self._head - 1) % self.capacity
        age = now - float(self._times[newest])
        if self.box is None or age > max_age:
            return None, self.box, age
        order = (self._head - self._count + np.arange(self._count)) % self.capacity  # oldest first
        chosen = pick_indices(self._times[order], now - self.window_seconds, now, self.frames)
        if chosen is None:
            return None, self.box, age
        return self._crops[order[chosen]], self.box, age  # fancy indexing: a copy


class FaceThread:
    """Runs a ``FaceStage`` on a ``VideoSource``'s frames and serves the pipeline's snapshots.

    Real-time clock: ``start()`` runs a thread that processes each new frame of ``latest()``
    once (by ``index``); frames that arrive while the detector is busy are skipped, as
    ``latest()`` only ever holds the newest. ManualClock (``--fast`` replays): no thread;
    ``snapshot(now)`` first processes, in order, every frame the file delivered up to ``now``
    (``FileVideoSource.decode_all``), i.e. what a real-time thread that keeps up would have seen,
    so replays are deterministic at any hop. ``snapshot`` is thread-safe. Detection time is
    measured with ``time.perf_counter`` (a duration of work, which a ManualClock cannot measure).
    """

    def __init__(self, video: VideoSource, stage: FaceStage | None = None, clock: Clock | None = None) -> None:
        self.video = video
        self.stage = stage if stage is not None else FaceStage()
        self.clock = clock if clock is not None else video.clock
        self.synchronous = not self.clock.realtime
        if self.synchronous and isinstance(video, FileVideoSource):
            video.decode_all = True
        self.frames_processed = 0
        self._detect_ms: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._last_index: int | None = None
        self._frame: Frame | None = None
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ended(self) -> bool:
        """The video has ended (a file exhausted, a camera failed)."""
        return self.video.ended

    @property
    def detect_ms_median(self) -> float:
        """Median per-frame detection + tracking + crop time in ms over the last frames (NaN: none)."""
        with self._lock:
            return statistics.median(self._detect_ms) if self._detect_ms else math.nan

    def _process(self, frame: Frame) -> None:
        start = time.perf_counter()
        boxes = self.stage.detector.detect(frame.image)  # the slow part, outside the lock
        with self._lock:
            self.stage.track(frame, boxes)
            self._frame = frame
            self._last_index = frame.index
            self.frames_processed += 1
            self._detect_ms.append((time.perf_counter() - start) * 1e3)

    def poll(self) -> int:
        """Process what is new: every queued frame of a ``decode_all`` file replay, else the newest
        frame if it was not processed yet. Returns the number of frames processed."""
        if isinstance(self.video, FileVideoSource) and self.video.decode_all:
            frames = [f for f in self.video.drain() if self._last_index is None or f.index > self._last_index]
        else:
            frame = self.video.latest()
            frames = [] if frame is None or frame.index == self._last_index else [frame]
        for frame in frames:
            self._process(frame)
        return len(frames)

    def _run(self) -> None:
        while not self._stop_event.is_set():
            if not self.poll():
                self._stop_event.wait(POLL_SECONDS)

    def start(self) -> None:
        if self._thread is not None or self.synchronous:
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name=f"faces {self.video.uri}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def snapshot(
        self, now: float, max_age: float = MAX_CROP_AGE
    ) -> tuple[np.ndarray | None, Box | None, float, Frame | None]:
        """``(crops, box, frame_age, frame)``: crops uint8 [T, size, size, 3] or None (no face, or
        too old), the tracked box, seconds since the last processed frame's capture (inf: none yet),
        and that frame (None when none yet, or when the video has ended and returns no frames).
        Without a thread (ManualClock), the frames due by now are processed first."""
        if self._thread is None:
            self.poll()
        with self._lock:
            crops, box, _ = self.stage.crops(now, max_age)
            frame = self._frame
        if frame is None:
            return crops, box, math.inf, None
        if self.video.ended and self.video.latest() is None:
            return None, None, now - frame.t, None
        return crops, box, now - frame.t, frame

    def __enter__(self) -> FaceThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
