"""Audio inputs: microphones (PortAudio through sounddevice) and audio files, each behind a ring buffer.

The microphone callback only copies into a preallocated ring (``AudioRing``); a supervisor thread
reopens a stream that fails or stalls while the run goes on. A file replay is fed at its own pace
by a thread (real-time clock) or, under a ``ManualClock``, delivers exactly what a real-time
replay would have by ``clock.now()``. ``snapshot(n)`` gives the newest ``n`` samples, their age
and whether they are live. Opened through ``sources.open_audio``.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soxr

from edgefusion.config import SAMPLE_RATE
from edgefusion.data.audio import RESAMPLE_QUALITY, load_audio
from edgefusion.errors import DataError
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.source_uri import ENDED_GRACE_SECONDS, TIME_EPS, SourceError, one_line, source_error

RING_SECONDS = 5.0  # audio kept in a source's ring buffer (>= the longest window asked for)
MIC_BLOCK_SECONDS = 0.01  # PortAudio callback block, seconds
FILE_BLOCK_SECONDS = 0.01  # real-time file replay writes blocks of this length
SUPERVISOR_POLL_SECONDS = 0.1  # how often the microphone supervisor checks the stream
RETRY_SECONDS = 1.0  # pause between attempts to reopen a failed microphone stream
STALL_SECONDS = 1.0  # no callback for this long while the stream claims to run = a fault
RESAMPLE_PAD_SECONDS = 0.05  # extra history resampled so the filter's edge falls outside the window
RING_READ_TRIES = 4  # a ring reader retries when the writer lapped the region it was copying
PORTAUDIO_HINT = "install PortAudio (Debian: apt-get install libportaudio2)"


class AudioRing:
    """A preallocated float32 ring of the newest ``capacity`` samples, one writer, any readers.

    ``write`` copies a block into at most two slices of the buffer (no allocation) and takes the
    lock only to publish the new total and time. ``latest`` copies the newest samples out and
    checks afterwards that the writer did not lap the region it copied (retrying if it did), so
    readers never block the writer for more than an index update.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"AudioRing: capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)  # [capacity]
        self._written = 0  # samples written since creation (monotonic)
        self._t_newest = math.nan  # clock time of the newest sample
        self._max_block = 0  # largest block written, bounds what a write in flight can overwrite
        self._lock = threading.Lock()

    @property
    def written(self) -> int:
        """Samples written since the ring was made (including ones since overwritten)."""
        return self._written

    @property
    def t_newest(self) -> float:
        """Clock time of the newest sample (NaN before the first write)."""
        return self._t_newest

    def write(self, block: np.ndarray, t: float) -> None:
        """Append ``block`` (float32 [m]) whose last sample was captured at clock time ``t``."""
        n = block.shape[0]
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity samples can be kept
            block = block[n - self.capacity :]
        m = block.shape[0]
        start = (self._written + n - m) % self.capacity  # only this (single) writer changes _written
        first = min(m, self.capacity - start)
        self._buf[start : start + first] = block[:first]
        if m > first:
            self._buf[: m - first] = block[first:]
        if m > self._max_block:
            self._max_block = m
        with self._lock:
            self._written += n
            self._t_newest = t

    def latest(self, n: int) -> tuple[np.ndarray, float]:
        """A copy of the newest ``n`` samples (float32 [n], zeros before the first sample) and
        the clock time of the newest one (NaN when nothing was written yet)."""
        if not 0 <= n <= self.capacity:
            raise ValueError(f"AudioRing.latest: n must be in [0, {self.capacity}], got {n}")
        out = np.zeros(n, dtype=np.float32)
        t = math.nan
        for _ in range(RING_READ_TRIES):
            with self._lock:
                w0, t = self._written, self._t_newest
            avail = min(n, w0)
            out[: n - avail] = 0.0
            if avail:
                start = (w0 - avail) % self.capacity
                first = min(avail, self.capacity - start)
                out[n - avail : n - avail + first] = self._buf[start : start + first]
                out[n - avail + first :] = self._buf[: avail - first]
            with self._lock:
                w1 = self._written
            # the writer may have published w1 - w0 samples and be copying one more block: none of
            # it may reach the oldest copied sample at ring position w0 - avail
            if w1 - w0 + self._max_block <= self.capacity - avail:
                break
        return out, t


@dataclass
class AudioSnapshot:
    """The newest audio of a source at one moment."""

    samples: np.ndarray  # float32 [n] at 16 kHz, the newest n samples (zeros before the stream began)
    age: float  # seconds between the newest sample's capture and clock.now() (inf before any sample)
    live: bool  # False when the stream is down or ended


class AudioSource(ABC):
    """An audio input delivering mono float32 PCM at ``sample_rate`` into a ring buffer.

    ``start()`` / ``stop()`` (both idempotent; ``with source:`` does both), ``snapshot(n)``, and
    counters: ``overflows`` (device blocks dropped), ``errors`` (faults and failed reopen
    attempts), ``restarts`` (successful reopens). ``ended``: a file replay delivered everything.
    """

    def __init__(self, uri: str, clock: Clock, sample_rate: int = SAMPLE_RATE) -> None:
        self.uri = uri
        self.clock = clock
        self.sample_rate = sample_rate
        self.overflows = 0
        self.errors = 0
        self.restarts = 0

    @abstractmethod
    def start(self) -> None:
        """Begin delivering samples; ``SourceError`` when the input cannot be opened."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering and release the device (idempotent)."""

    @abstractmethod
    def snapshot(self, n: int) -> AudioSnapshot:
        """The newest ``n`` samples at ``sample_rate``, their age and whether the input is live."""

    @property
    def ended(self) -> bool:
        """True once a file replay has delivered all of its samples (never for a device)."""
        return False

    def _age(self, t_newest: float) -> float:
        return self.clock.now() - t_newest if math.isfinite(t_newest) else math.inf

    def __enter__(self) -> AudioSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _sounddevice(uri: str) -> ModuleType:
    """The sounddevice module; ``SourceError`` when PortAudio is not installed."""
    try:
        import sounddevice
    except OSError as err:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise source_error(uri, f"PortAudio not available ({err}): {PORTAUDIO_HINT}") from None
    return sounddevice


def refresh_audio_devices() -> None:
    """Re-scan PortAudio's device list (PortAudio enumerates devices once, at initialisation).

    Needed when a sound server appeared or changed after ``sounddevice`` was imported (e.g. a
    PulseAudio server started later, with ``XDG_RUNTIME_DIR`` pointing at it). Call it only while
    no stream is open: re-initialising PortAudio closes every stream of the process.
    """
    sd = _sounddevice("mic://")
    sd._terminate()
    sd._initialize()


def mic_device(spec: str) -> int | str | None:
    """A ``mic://`` URI's device part as sounddevice takes it: None (default), an index or a name."""
    spec = spec.strip().strip("/")
    if spec.lower() in ("", "default"):
        return None
    return int(spec) if spec.isdigit() else spec


class MicSource(AudioSource):
    """A microphone through PortAudio (``sounddevice.InputStream``), supervised.

    The stream runs at 16 kHz when the device accepts it, else at the device's default rate
    (or at ``capture_rate`` when given); the ring holds samples at that capture rate and
    ``snapshot`` resamples the window to ``sample_rate`` with soxr (never in the callback).

    The PortAudio callback only copies ``indata[:, 0]`` into the ring (stamped with
    ``clock.now()``) and counts ``status.input_overflow``: no buffer is allocated (only the
    small view objects Python makes), nothing blocks but the ring's index-update lock.

    A supervisor thread checks the stream every ``SUPERVISOR_POLL_SECONDS``: when it stopped
    (aborted, device gone, PortAudioError) or stalled (no callback for ``STALL_SECONDS``) the
    source goes ``live=False``, ``errors`` is incremented, and a reopen is tried every
    ``RETRY_SECONDS`` (each success counts in ``restarts``; the outage is filled with zeros so
    the timeline stays continuous).

    Fault injection for tests, on the real path: set ``fault_after = k`` and the k-th callback
    from then raises ``sounddevice.CallbackAbort``, so PortAudio aborts the stream exactly as
    on a device error.
    """

    def __init__(
        self,
        device: int | str | None,
        clock: Clock,
        sample_rate: int = SAMPLE_RATE,
        *,
        uri: str | None = None,
        capture_rate: int | None = None,
        ring_seconds: float = RING_SECONDS,
        block_seconds: float = MIC_BLOCK_SECONDS,
    ) -> None:
        super().__init__(uri or f"mic://{'default' if device is None else device}", clock, sample_rate)
        if not clock.realtime:
            raise source_error(self.uri, "a microphone needs a real-time clock (no --fast replay of a live input)")
        self.device = device
        self.ring_seconds = ring_seconds
        self.block_seconds = block_seconds
        self.fault_after: int | None = None  # test hook: the k-th callback from now aborts the stream
        self._requested_rate = capture_rate
        self.capture_rate: int | None = None  # decided at start
        self.device_name = ""
        self._sd = _sounddevice(self.uri)
        self._device_index = self._resolve_device()
        self._ring: AudioRing | None = None
        self._running = False
        self._stream: Any = None
        self._opened_at = math.nan
        self._live = False
        self._stop_event = threading.Event()
        self._supervisor: threading.Thread | None = None

    # -- opening ---------------------------------------------------------------------------------

    def _resolve_device(self) -> int:
        """The PortAudio index of the input device; ``SourceError`` when there is none such."""
        sd = self._sd
        try:
            info = sd.query_devices(self.device, "input")
        except (sd.PortAudioError, ValueError) as err:
            what = "no default audio input device" if self.device is None else "no such audio input device"
            raise source_error(self.uri, f"{what} ({one_line(err)}); devices: {self._device_list()}") from None
        if info["max_input_channels"] < 1:
            raise source_error(self.uri, f"device {info['index']} ({info['name']}) has no input channels")
        self.device_name = str(info["name"])
        return int(info["index"])

    def _device_list(self) -> str:
        try:
            devices = self._sd.query_devices()
        except self._sd.PortAudioError:
            return "none"
        inputs = [f"{d['index']}={d['name']}" for d in devices if d["max_input_channels"] > 0]
        return ", ".join(inputs) if inputs else "none"

    def _choose_rate(self) -> int:
        """The capture rate: the forced one, else 16 kHz when accepted, else the device default."""
        sd = self._sd
        candidates = [self._requested_rate] if self._requested_rate else [self.sample_rate]
        if not self._requested_rate:
            default = round(float(sd.query_devices(self._device_index)["default_samplerate"]))
            candidates.append(default)
        problem: object = ""
        for rate in candidates:
            try:
                sd.check_input_settings(device=self._device_index, channels=1, dtype="float32", samplerate=rate)
            except (sd.PortAudioError, ValueError) as err:
                problem = err
                continue
            return int(rate)
        raise source_error(self.uri, f"device refuses mono float32 input at {candidates} Hz ({problem})")

    def _open_stream(self) -> None:
        """Open and start a new InputStream into the existing ring (PortAudioError on failure)."""
        sd = self._sd
        assert self.capture_rate is not None
        stream = sd.InputStream(
            device=self._device_index,
            channels=1,
            samplerate=self.capture_rate,
            dtype="float32",
            blocksize=max(1, round(self.block_seconds * self.capture_rate)),
            callback=self._callback,
        )
        try:
            stream.start()
        except Exception:
            stream.close(ignore_errors=True)
            raise
        self._stream = stream
        self._opened_at = self.clock.now()
        self._live = True

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._live = False
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
            finally:
                stream.close(ignore_errors=True)

    def start(self) -> None:
        if self._running:
            return
        if self._ring is None:
            self.capture_rate = self._choose_rate()
            pad = math.ceil(RESAMPLE_PAD_SECONDS * self.capture_rate) if self.capture_rate != self.sample_rate else 0
            self._ring = AudioRing(math.ceil(self.ring_seconds * self.capture_rate) + pad)
        else:
            self._fill_gap()
        try:
            self._open_stream()
        except (self._sd.PortAudioError, ValueError) as err:
            raise source_error(self.uri, f"cannot start audio input ({err})") from None
        self._running = True
        self._stop_event.clear()
        self._supervisor = threading.Thread(target=self._supervise, name=f"mic-supervisor {self.uri}", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop_event.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        self._close_stream()
        self._running = False

    # -- the real-time path ----------------------------------------------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy the block into the ring, count overflows. Nothing else."""
        if status.input_overflow:
            self.overflows += 1
        self._ring.write(indata[:, 0], self.clock.now())  # type: ignore[union-attr]
        if self.fault_after is not None:
            self.fault_after -= 1
            if self.fault_after <= 0:
                self.fault_after = None
                raise self._sd.CallbackAbort  # PortAudio aborts the stream: the device-error path

    # -- supervision -----------------------------------------------------------------------------

    def _healthy(self) -> bool:
        stream = self._stream
        if stream is None:
            return False
        try:
            active = bool(stream.active)
        except self._sd.PortAudioError:
            return False
        assert self._ring is not None
        t_newest = self._ring.t_newest
        last = max(self._opened_at, t_newest) if math.isfinite(t_newest) else self._opened_at
        return active and self.clock.now() - last <= STALL_SECONDS

    def _supervise(self) -> None:
        while not self._stop_event.wait(SUPERVISOR_POLL_SECONDS):
            if self._stream is not None:
                if self._healthy():
                    continue
                self._live = False
                self.errors += 1
                self._close_stream()
            if self._stop_event.wait(RETRY_SECONDS):
                break
            self._fill_gap()
            try:
                self._open_stream()
            except Exception:  # any failure to reopen: count it, try again later
                self.errors += 1
            else:
                self.restarts += 1

    def _fill_gap(self) -> None:
        """Write zeros for the time the stream was down (the callback is not running now)."""
        ring = self._ring
        assert ring is not None and self.capture_rate is not None
        if not math.isfinite(ring.t_newest):
            return
        now = self.clock.now()
        missing = min(round((now - ring.t_newest) * self.capture_rate), ring.capacity)
        if missing > 0:
            ring.write(np.zeros(missing, dtype=np.float32), now)

    # -- reading ---------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    def snapshot(self, n: int) -> AudioSnapshot:
        ring = self._ring
        if ring is None:
            return AudioSnapshot(np.zeros(n, dtype=np.float32), math.inf, False)
        assert self.capture_rate is not None
        if self.capture_rate == self.sample_rate:
            samples, t_newest = ring.latest(n)
        else:
            pad = math.ceil(RESAMPLE_PAD_SECONDS * self.capture_rate)
            need = min(math.ceil(n * self.capture_rate / self.sample_rate) + pad, ring.capacity)
            raw, t_newest = ring.latest(need)
            resampled = soxr.resample(raw, self.capture_rate, self.sample_rate, quality=RESAMPLE_QUALITY)
            samples = np.zeros(n, dtype=np.float32)
            tail = resampled[-n:] if n else resampled[:0]
            samples[n - len(tail) :] = tail
        age = self._age(t_newest)
        return AudioSnapshot(samples, age, self._live and age <= STALL_SECONDS)


class FileAudioSource(AudioSource):
    """An audio file replayed as if it were being captured now.

    Decoded once with ``load_audio`` (mono, resampled to ``sample_rate``). Sample k is captured
    at clock time ``k / sample_rate`` after ``start()`` and complete one sample later, so by time
    t (from start) the first ``floor(t * sample_rate)`` samples are delivered and the newest is
    stamped ``count / sample_rate``. With a real-time clock a feeder thread writes
    ``FILE_BLOCK_SECONDS`` blocks as their time comes; with a ManualClock ``snapshot`` delivers
    everything due by ``clock.now()`` first (no thread, exact). After the last sample, ``ended``
    is True and ``snapshot`` keeps returning the last window, with ``live=False`` once it is
    older than ``ENDED_GRACE_SECONDS``.
    """

    def __init__(
        self,
        path: str | Path,
        clock: Clock,
        sample_rate: int = SAMPLE_RATE,
        *,
        uri: str | None = None,
        ring_seconds: float = RING_SECONDS,
        block_seconds: float = FILE_BLOCK_SECONDS,
    ) -> None:
        super().__init__(uri or f"file://{path}", clock, sample_rate)
        self.path = Path(path)
        try:
            self.samples = load_audio(self.path, sample_rate)  # float32 [S]
        except DataError as err:
            raise SourceError(str(err)) from None
        self._ring = AudioRing(math.ceil(ring_seconds * sample_rate))
        self._block = max(1, round(block_seconds * sample_rate))
        self._delivered = 0
        self._t0: float | None = None
        self._lock = threading.Lock()  # one deliverer at a time (feeder thread or snapshot callers)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def duration(self) -> float:
        """Length of the decoded audio in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def ended(self) -> bool:
        return self._delivered >= len(self.samples)

    def start(self) -> None:
        if self._t0 is not None:
            return
        self._t0 = self.clock.now()
        if self.clock.realtime:
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._feed, name=f"audio-replay {self.uri}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _deliver_to(self, count: int) -> None:
        """Write samples [delivered, count) into the ring, stamped at their capture time."""
        assert self._t0 is not None
        with self._lock:
            count = min(count, len(self.samples))
            if count <= self._delivered:
                return
            self._ring.write(self.samples[self._delivered : count], self._t0 + count / self.sample_rate)
            self._delivered = count

    def _due(self) -> int:
        """Samples due by ``clock.now()``."""
        assert self._t0 is not None
        return max(0, math.floor((self.clock.now() - self._t0) * self.sample_rate + TIME_EPS))

    def _feed(self) -> None:
        assert self._t0 is not None
        total = len(self.samples)
        while self._delivered < total:
            end = min(self._delivered + self._block, total)
            delay = self._t0 + end / self.sample_rate - self.clock.now()
            if delay > 0 and self._stop_event.wait(delay):
                return
            self._deliver_to(max(end, self._due()))  # catch up at once if this thread was late

    def snapshot(self, n: int) -> AudioSnapshot:
        if self._t0 is None:
            return AudioSnapshot(np.zeros(n, dtype=np.float32), math.inf, False)
        if not self.clock.realtime:
            self._deliver_to(self._due())
        samples, t_newest = self._ring.latest(n)
        age = self._age(t_newest)
        # the window ending on the last sample is still the file's own; after it, the file is over
        return AudioSnapshot(samples, age, not self.ended or age <= ENDED_GRACE_SECONDS)
