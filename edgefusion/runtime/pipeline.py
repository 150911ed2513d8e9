"""The streaming pipeline: every hop, snapshot the newest window, infer once, smooth, emit an event.

Latest wins: when a hop's work runs late, the hops it overran are skipped and counted, and
the next hop takes the newest data; nothing queues. A hop whose inference a remote server did
not answer (``ServerUnavailable``) is lost, counted and emitted without a label; the run goes
on. Each event carries the time, the label, the fused and per-modality probabilities,
``present``, and the latency of every stage in ms:

- ``audio_age`` / ``frame_age``: how old the newest audio sample and face frame were at the hop;
- ``vad``: the voice activity detector on the hop's new audio (with a ``SpeechGate``);
- ``preprocess``: snapshotting the ring buffers and building the feed (the VAD excluded);
- ``inference``: ``runner.infer``;
- ``postprocess``: softmax, smoothing and building the event;
- ``pipeline``: preprocess + postprocess, what the pipeline adds to inference and the VAD;
- ``total``: from the hop's start to the event being ready.

Decisions rest on what the model can use. With a ``SpeechGate``, a window whose speech share is
below the gate's is not speech: its audio is marked absent, and the event carries the share
(``speech``). A modality the model was not trained on is never marked present. A hop left with
nothing present is not inferred: its event has no label (``label`` None, "no speech"), and the
smoothing starts afresh at the next decision.

With a ``RunningCentre`` (speaker adaptation, which needs the gate) each hop is fed the speaker's
shift so far, and each voiced window adds its audio embedding to the speaker's running mean;
the event's ``adapted`` says whether a shift was applied, ``adaptation`` how far it has warmed up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edgefusion.adaptation import RunningCentre
from edgefusion.artifact.contract import EMBEDDING_OUTPUT, SHIFT_INPUT
from edgefusion.config import LIVE_HOP
from edgefusion.metrics import softmax
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.face_stage import MAX_CROP_AGE
from edgefusion.runtime.runner import Runner, ServerUnavailable
from edgefusion.runtime.vad import SpeechGate

DEFAULT_SMOOTH = 0.5


@dataclass
class StreamSettings:
    hop: float = LIVE_HOP
    smooth: float = DEFAULT_SMOOTH  # weight of the previous smoothed probabilities (0 = none)
    duration: float | None = None  # seconds of stream time; None = until the sources end or Ctrl-C
    max_face_age: float = MAX_CROP_AGE  # seconds: older crops count as no face


@dataclass
class Event:
    t: float
    hop: int
    label: str | None  # None: nothing the model can use was present (no speech, no face); no inference ran
    probs: dict[str, float]  # smoothed fused probabilities ({} without a label)
    raw: dict[str, dict[str, float]]  # unsmoothed "fused", "audio", "video" probabilities ({} without a label)
    present: dict[str, bool]
    latency_ms: dict[str, float]
    skipped: int  # hops skipped so far
    overflows: int  # audio input overflows so far
    box: tuple[int, int, int, int] | None = None  # face box (x, y, w, h) in the frame
    adapted: bool = False  # whether the audio embedding was centred on the speaker
    speech: float | None = None  # the window's speech share by the VAD, 0-1 (None without one)
    adaptation: tuple[int, int] | None = None  # (voiced windows averaged, windows needed) with adaptation on
    lost: int = 0  # hops whose inference the server did not answer, so far (this one included)
    unanswered: bool = False  # this hop's: the server did not answer, so there is no label
    frame: Any = field(default=None, repr=False)  # the newest frame (for video sinks), not serialised

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 4),
            "hop": self.hop,
            "label": self.label,
            "probs": {k: round(v, 5) for k, v in self.probs.items()},
            "raw": {m: {k: round(v, 5) for k, v in p.items()} for m, p in self.raw.items()},
            "present": self.present,
            "latency_ms": {k: round(v, 3) if math.isfinite(v) else None for k, v in self.latency_ms.items()},
            "skipped": self.skipped,
            "overflows": self.overflows,
            "box": list(self.box) if self.box else None,
            "adapted": self.adapted,
            "speech": None if self.speech is None else round(self.speech, 3),
            "adaptation": None if self.adaptation is None else list(self.adaptation),
            "lost": self.lost,
            "unanswered": self.unanswered,
        }

    @property
    def status(self) -> str:
        """The label, or why there is none: "no server", "no speech" (the VAD heard none), else "no input"."""
        if self.label is not None:
            return self.label
        if self.unanswered:
            return "no server"
        return "no speech" if self.speech is not None else "no input"


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...

    def close(self) -> None: ...


class AudioInput(Protocol):
    overflows: int

    @property
    def ended(self) -> bool: ...

    def snapshot(self, n: int) -> Any: ...


class FaceInput(Protocol):
    @property
    def ended(self) -> bool: ...

    def snapshot(self, now: float) -> tuple[np.ndarray | None, Any, float, Any]:
        """(crops uint8 [T, S, S, 3] or None, face box or None, frame age in s, newest Frame or None)"""
        ...


@dataclass
class RunSummary:
    events: int
    skipped: int
    overflows: int
    seconds: float
    reason: str
    lost: int = 0  # hops the server did not answer


class Pipeline:
    """Runs ``runner`` (active) on ``audio`` and ``faces`` (either may be None) until told to stop."""

    def __init__(
        self,
        runner: Runner,
        audio: AudioInput | None,
        faces: FaceInput | None,
        clock: Clock,
        settings: StreamSettings,
        sinks: Sequence[Sink] = (),
        centre: RunningCentre | None = None,
        gate: SpeechGate | None = None,
    ) -> None:
        """``centre``: speaker adaptation from the session's running mean (the runner must be
        adaptable, and ``gate`` given: the mean takes voiced windows only). ``gate``: decide on
        speech only, fed each hop's new audio."""
        if audio is None and faces is None:
            raise ValueError("the pipeline needs at least one source")
        if centre is not None and gate is None:
            raise ValueError("speaker adaptation averages voiced windows: it needs a SpeechGate")
        self.runner, self.audio, self.faces, self.clock = runner, audio, faces, clock
        self.settings, self.sinks = settings, list(sinks)
        cfg = runner.meta.config
        self.classes = list(runner.meta.classes)
        self.window = cfg.window_samples
        self.frames, self.size = cfg.frames, cfg.frame_size
        # preallocated feed, reused every hop (batch 1)
        self.feed = {
            "audio": np.zeros((1, self.window), dtype=np.float32),
            "video": np.zeros((1, self.frames, self.size, self.size, 3), dtype=np.uint8),
            "present": np.zeros((1, 2), dtype=np.float32),
        }
        self.centre, self.gate = centre, gate
        self.hop_samples = min(self.window, round(settings.hop * cfg.sample_rate))
        self.uses = {m: m in runner.trained for m in ("audio", "video")}  # untrained: never present
        if centre is not None:
            self.feed[SHIFT_INPUT] = np.zeros((1, cfg.embed_dim), dtype=np.float32)
        self.smoothed: np.ndarray | None = None
        self.skipped = 0
        self.lost = 0
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def _sources_ended(self) -> bool:
        return all(s is None or s.ended for s in (self.audio, self.faces))

    def step(self, hop: int, hop_start: float) -> Event:
        """One hop: snapshot, gate, infer, smooth; ``hop_start`` is the perf_counter time the hop began."""
        now = self.clock.now()
        t0 = time.perf_counter()
        audio_age = frame_age = float("nan")
        vad_s, speech = 0.0, None
        present = self.feed["present"]
        present[:] = 0.0
        if self.audio is not None:
            snap = self.audio.snapshot(self.window)
            self.feed["audio"][0] = snap.samples
            heard = snap.live and self.uses["audio"]
            if self.gate is not None:
                v0 = time.perf_counter()
                speech = self.gate.update(snap.samples[-self.hop_samples :])
                vad_s = time.perf_counter() - v0
                heard = heard and self.gate.voiced(speech)
            present[0, 0] = 1.0 if heard else 0.0
            audio_age = snap.age * 1e3
        box = frame = None
        if self.faces is not None:
            crops, box, age, frame = self.faces.snapshot(now)
            if crops is not None and age <= self.settings.max_face_age and self.uses["video"]:
                self.feed["video"][0] = crops
                present[0, 1] = 1.0
            frame_age = age * 1e3
        adapted = False
        if self.centre is not None:
            adapted = self.centre.ready and bool(present[0, 0])
            self.feed[SHIFT_INPUT][0] = self.centre.shift() if adapted else 0.0
        t1 = time.perf_counter()
        decided = bool(present.any())
        out, unanswered = None, False
        if decided:
            try:
                out = self.runner.infer(self.feed)
            except ServerUnavailable:  # a remote runner's server away: this hop is lost, not the run
                unanswered = True
                self.lost += 1
        t2 = time.perf_counter()
        label, probs, raw_named = None, {}, {}
        if out is not None:
            if self.centre is not None and present[0, 0]:  # voiced: the gate passed it
                self.centre.add(out[EMBEDDING_OUTPUT][0])
            fused = softmax(out["logits"][0].astype(np.float64))
            if self.smoothed is None or self.settings.smooth <= 0:
                self.smoothed = fused
            else:
                self.smoothed = self.settings.smooth * self.smoothed + (1 - self.settings.smooth) * fused
            raw = {"fused": fused, "audio": softmax(out["audio_logits"][0]), "video": softmax(out["video_logits"][0])}
            label = self.classes[int(self.smoothed.argmax())]
            probs = dict(zip(self.classes, map(float, self.smoothed), strict=True))
            raw_named = {m: dict(zip(self.classes, map(float, p), strict=True)) for m, p in raw.items()}
        else:
            self.smoothed = None  # the next utterance starts afresh
        event = Event(
            t=now,
            hop=hop,
            label=label,
            probs=probs,
            raw=raw_named,
            present={"audio": bool(present[0, 0]), "video": bool(present[0, 1])},
            latency_ms={},
            skipped=self.skipped,
            overflows=getattr(self.audio, "overflows", 0) if self.audio is not None else 0,
            box=(int(box.x), int(box.y), int(box.w), int(box.h)) if box is not None else None,
            frame=None if frame is None else frame.image,
            adapted=adapted,
            speech=speech,
            adaptation=None if self.centre is None else (self.centre.count, self.centre.min_windows),
            lost=self.lost,
            unanswered=unanswered,
        )
        t3 = time.perf_counter()
        event.latency_ms = {
            "audio_age": audio_age,
            "frame_age": frame_age,
            "vad": vad_s * 1e3 if self.gate is not None else float("nan"),
            "preprocess": (t1 - t0 - vad_s) * 1e3,
            "inference": (t2 - t1) * 1e3 if decided else float("nan"),
            "postprocess": (t3 - t2) * 1e3,
            "pipeline": (t1 - t0 - vad_s + t3 - t2) * 1e3,
            "total": (t3 - hop_start) * 1e3,
        }
        return event

    def run(self) -> RunSummary:
        """Hop until ``duration``, the end of every source, ``stop()`` or Ctrl-C; every event reaches the sinks."""
        hop_s = self.settings.hop
        start = self.clock.now()
        hop, events, reason = 1, 0, "sources ended"
        started = time.perf_counter()
        try:
            while not self.stopped:
                due = start + hop * hop_s
                if self.settings.duration is not None and due - start > self.settings.duration + 1e-9:
                    reason = "duration reached"
                    break
                self.clock.sleep_until(due)
                hop_start = time.perf_counter()
                late = self.clock.now() - due
                if self.clock.realtime and late >= hop_s:  # latest wins: skip the overrun hops
                    missed = int(late // hop_s)
                    self.skipped += missed
                    hop += missed
                event = self.step(hop, hop_start)
                for sink in self.sinks:
                    sink.emit(event)
                events += 1
                hop += 1
                if self._sources_ended():
                    break
            else:
                reason = "stopped"
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            for sink in self.sinks:
                sink.close()
        overflows = getattr(self.audio, "overflows", 0) if self.audio is not None else 0
        return RunSummary(events, self.skipped, overflows, time.perf_counter() - started, reason, self.lost)
