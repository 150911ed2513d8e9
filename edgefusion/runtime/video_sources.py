"""Video inputs: cameras (OpenCV, V4L2, a Jetson CSI camera through GStreamer) and video files.

Each keeps only its newest frame (``latest()``); a file replay delivers frames at the file's own
rate (or, under a ``ManualClock``, what a real-time replay would have by ``clock.now()``, and with
``decode_all`` every frame in order). Opened through ``sources.open_video``.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import cv2
import numpy as np

from edgefusion.data.video import FALLBACK_FPS, container_fps
from edgefusion.errors import DataError, require_file
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.source_uri import TIME_EPS, SourceError, source_error

END_GRACE_SECONDS = 0.25  # an ended video keeps its last frame this long past its end, then None
CAMERA_READ_FAILURES = 5  # consecutive failed reads after which a camera counts as ended
CAMERA_RETRY_SECONDS = 0.02  # pause after a failed camera read
PENDING_FRAMES = 64  # frames a decode_all file replay queues for drain() at most (the oldest drop)
CSI_WIDTH, CSI_HEIGHT, CSI_FPS = 1280, 720, 30  # the default CSI capture mode


@dataclass
class Frame:
    """One video frame."""

    image: np.ndarray  # uint8 BGR [H, W, 3]
    t: float  # clock time of capture
    index: int  # frame number: position in a file, count since start for a camera


class VideoSource(ABC):
    """A video input; ``latest()`` gives only the newest frame, so nothing stale queues up.

    ``start()`` / ``stop()`` (idempotent; ``with source:`` does both), ``ended`` (a file is
    exhausted or a camera failed), ``errors`` (failed reads), ``frames_read`` (frames taken from
    the device or file, including ones skipped to stay current).
    """

    def __init__(self, uri: str, clock: Clock) -> None:
        self.uri = uri
        self.clock = clock
        self.errors = 0
        self.frames_read = 0
        self._frame: Frame | None = None
        self._ended = False
        self._end_t = math.inf  # clock time the input ended
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def start(self) -> None:
        """Open the input and begin reading; ``SourceError`` when it cannot be opened."""

    def stop(self) -> None:
        """Stop reading and release the input (idempotent)."""
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._release()

    @abstractmethod
    def _release(self) -> None: ...

    @property
    def ended(self) -> bool:
        return self._ended

    def _newest(self, now: float) -> Frame | None:
        """The stored frame, or None once the input ended more than ``END_GRACE_SECONDS`` ago."""
        with self._lock:
            if self._ended and now > self._end_t + END_GRACE_SECONDS:
                return None
            return self._frame

    def latest(self) -> Frame | None:
        """The newest frame, or None (nothing yet, or ended a grace period ago)."""
        return self._newest(self.clock.now())

    def __enter__(self) -> VideoSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CaptureVideoSource(VideoSource):
    """A live camera through ``cv2.VideoCapture(target, api)`` with a reader thread.

    The thread reads frames as the device delivers them and keeps only the last (stamped with
    ``clock.now()``). A failed read counts in ``errors``; ``CAMERA_READ_FAILURES`` in a row end
    the source (``ended``; ``latest()`` returns None after ``END_GRACE_SECONDS``).
    """

    def __init__(self, uri: str, clock: Clock, target: int | str, api: int = cv2.CAP_ANY, what: str = "camera") -> None:
        super().__init__(uri, clock)
        self.target = target
        self.api = api
        self.what = what
        self._cap: cv2.VideoCapture | None = None

    def start(self) -> None:
        if self._cap is not None:
            return
        # OpenCV logs its own multi-line complaint about a missing device; ours is the one line
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            cap = cv2.VideoCapture(self.target, self.api)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            raise source_error(self.uri, f"cannot open {self.what} (OpenCV could not open {self.target!r})")
        self._cap = cap
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._read_loop, name=f"video {self.uri}", daemon=True)
        self._thread.start()

    def _read_loop(self) -> None:
        assert self._cap is not None
        failures = index = 0
        while not self._stop_event.is_set():
            ok, image = self._cap.read()
            if ok and image is not None:
                failures = 0
                self.frames_read += 1
                frame = Frame(image, self.clock.now(), index)
                index += 1
                with self._lock:
                    self._frame = frame
                continue
            self.errors += 1
            failures += 1
            if failures >= CAMERA_READ_FAILURES:
                with self._lock:
                    self._ended = True
                    self._end_t = self.clock.now()
                return
            self._stop_event.wait(CAMERA_RETRY_SECONDS)

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileVideoSource(VideoSource):
    """A video file replayed at its own frame rate as if it were a camera starting now.

    Frame i is captured at clock time ``i / fps`` after ``start()``. ``latest()`` is the frame
    with the newest time <= ``clock.now()``; frames whose turn passed unseen are skipped with
    ``grab()`` (not decoded to images). Real-time clock: a reader thread advances as frames come
    due. ManualClock: no thread, ``latest()`` advances the file itself, so results are exact.
    When the file is exhausted ``ended`` turns True (at the end of the last frame's period,
    ``N / fps``) and ``latest()`` returns None from ``END_GRACE_SECONDS`` after that.
    """

    def __init__(self, path: str | Path, clock: Clock, *, uri: str | None = None) -> None:
        super().__init__(uri or f"file://{path}", clock)
        self.path = Path(path)
        try:
            require_file(self.path, "video file")
        except DataError as err:
            raise SourceError(str(err)) from None
        self._cap: cv2.VideoCapture | None = None
        self.fps = FALLBACK_FPS
        self._next = 0  # index of the next frame in the file
        self._t0: float | None = None
        self._advance_lock = threading.Lock()  # one decoder at a time (reader thread or latest() callers)
        # decode_all: decode every due frame (none skipped) and queue them for drain(); for consumers
        # that must see each frame, like the face tracker of a deterministic ManualClock replay
        self.decode_all = False
        self._pending: deque[Frame] = deque(maxlen=PENDING_FRAMES)
        self._open()

    def _open(self) -> None:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise source_error(self.uri, "OpenCV cannot open it as a video")
        self._cap = cap
        self.fps = container_fps(cap)

    def start(self) -> None:
        if self._t0 is not None:
            return
        if self._cap is None:
            self._open()
        self._t0 = self.clock.now()
        if self.clock.realtime:
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._read_loop, name=f"video-replay {self.uri}", daemon=True)
            self._thread.start()

    def _advance(self, now: float) -> None:
        """Decode up to the newest frame due by ``now`` (skipping older due ones), mark the end."""
        assert self._t0 is not None
        with self._advance_lock:
            if self._cap is not None:
                self._advance_locked(now)

    def _advance_locked(self, now: float) -> None:
        assert self._t0 is not None and self._cap is not None
        due = math.floor((now - self._t0) * self.fps + TIME_EPS) + 1  # frames 0 .. due-1 are due
        while self._next < due and not self._ended:
            index = self._next
            if index < due - 1 and not self.decode_all:
                ok, image = self._cap.grab(), None
            else:
                ok, image = self._cap.read()
            if not ok:
                with self._lock:
                    self._ended = True
                    self._end_t = self._t0 + index / self.fps
                return
            self._next += 1
            self.frames_read += 1
            if image is not None:
                frame = Frame(image, self._t0 + index / self.fps, index)
                with self._lock:
                    self._frame = frame
                    if self.decode_all:
                        self._pending.append(frame)

    def _read_loop(self) -> None:
        assert self._t0 is not None
        while not self._ended:
            self._advance(self.clock.now())
            delay = self._t0 + self._next / self.fps - self.clock.now()
            if self._stop_event.wait(max(delay, 0.0)):
                return

    def latest(self) -> Frame | None:
        if self._t0 is None:
            return None
        now = self.clock.now()
        if not self.clock.realtime:
            self._advance(now)
        return self._newest(now)

    def drain(self) -> list[Frame]:
        """With ``decode_all``: every frame decoded since the last call, oldest first (at most
        ``PENDING_FRAMES``); with a ManualClock the file is first advanced to ``clock.now()``."""
        if self._t0 is None:
            return []
        if not self.clock.realtime:
            self._advance(self.clock.now())
        with self._lock:
            frames = list(self._pending)
            self._pending.clear()
        return frames

    def _release(self) -> None:
        with self._advance_lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV was built with GStreamer (its build information says so)."""
    for line in cv2.getBuildInformation().splitlines():
        name, sep, value = line.strip().partition(":")
        if sep and name.strip() == "GStreamer":
            return value.strip().upper().startswith("YES")
    return False


def csi_pipeline(
    sensor_id: int = 0, width: int = CSI_WIDTH, height: int = CSI_HEIGHT, fps: int = CSI_FPS, flip_method: int = 0
) -> str:
    """The GStreamer pipeline for a Jetson MIPI CSI camera, delivering BGR frames to OpenCV.

    ``nvarguscamerasrc`` (libargus, the ISP) gives NV12 frames in NVMM (device) memory;
    ``nvvidconv`` converts them to BGRx in system memory (optionally flipped); ``videoconvert``
    drops the x; ``appsink drop=1 max-buffers=1`` keeps only the newest frame.
    """
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1,format=NV12 ! "
        f"nvvidconv flip-method={flip_method} ! video/x-raw,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=1 max-buffers=1"
    )


def require_gstreamer(uri: str) -> None:
    if not opencv_has_gstreamer():
        raise source_error(
            uri,
            f"this OpenCV {cv2.__version__} was built without GStreamer "
            "(cv2.getBuildInformation() says 'GStreamer: NO'); use JetPack's OpenCV or build one with it",
        )


def csi_source(uri: str, rest: str, clock: Clock) -> CaptureVideoSource:
    """``csi://N`` or ``csi://N?width=W&height=H&fps=F&flip=K``."""
    sensor, _, query = rest.partition("?")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        pipeline = csi_pipeline(
            int(sensor or 0),
            int(options.get("width", CSI_WIDTH)),
            int(options.get("height", CSI_HEIGHT)),
            int(options.get("fps", CSI_FPS)),
            int(options.get("flip", 0)),
        )
    except ValueError:
        raise source_error(uri, "expected csi://N or csi://N?width=W&height=H&fps=F&flip=K with integers") from None
    require_gstreamer(uri)
    return CaptureVideoSource(uri, clock, pipeline, cv2.CAP_GSTREAMER, "CSI camera")
