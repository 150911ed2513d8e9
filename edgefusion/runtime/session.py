"""A live session: the sources started, the face thread beside them, the pipeline run, all stopped.

``stream`` is what ``edgefusion run`` and ``bench --stream`` both run; ``LatencyRecorder`` is the
sink that keeps every event's per-stage latency for their reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from edgefusion.runtime.face_stage import FaceStage, FaceThread
from edgefusion.runtime.pipeline import Event, Pipeline, RunSummary, Sink, StreamSettings

if TYPE_CHECKING:
    from edgefusion.adaptation import RunningCentre
    from edgefusion.runtime.audio_sources import AudioSource
    from edgefusion.runtime.clock import Clock
    from edgefusion.runtime.runner import Runner
    from edgefusion.runtime.vad import SpeechGate
    from edgefusion.runtime.video_sources import VideoSource

STAGES = ("audio_age", "frame_age", "vad", "preprocess", "inference", "postprocess", "pipeline", "total")


@dataclass
class LatencyRecorder:
    """A sink that keeps every event's per-stage latency for the closing report."""

    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    labels: list[str] = field(default_factory=list)  # the decided hops' labels
    undecided: int = 0  # hops with nothing the model could use (no speech, no face)
    voiced: int = 0  # hops whose audio the VAD passed as speech

    def emit(self, event: Event) -> None:
        for stage in STAGES:
            v = event.latency_ms.get(stage)
            if v is not None and math.isfinite(v):  # NaN: no such stage this hop; inf: no sample yet
                self.values[stage].append(v)
        self.voiced += event.speech is not None and event.present["audio"]
        if event.label is None:
            self.undecided += 1
        else:
            self.labels.append(event.label)

    def close(self) -> None:
        pass

    def percentiles(self) -> dict[str, dict[str, float]]:
        """Per stage that has values: median, p90, p99 and max in ms."""
        summary = {}
        for stage, v in self.values.items():
            if v:
                p50, p90, p99 = np.percentile(v, [50, 90, 99])
                summary[stage] = {"median": float(p50), "p90": float(p90), "p99": float(p99), "max": float(max(v))}
        return summary

    def table(self) -> Table:
        t = Table(title="latency per stage (ms)", title_justify="left")
        for col in ("stage", "median", "p90", "p99", "max"):
            t.add_column(col, justify="right")
        for stage, q in self.percentiles().items():
            t.add_row(stage, *(f"{q[k]:.2f}" for k in ("median", "p90", "p99", "max")))
        return t


def stream(
    runner: Runner,
    audio: AudioSource | None,
    video: VideoSource | None,
    clock: Clock,
    settings: StreamSettings,
    sinks: Sequence[Sink],
    centre: RunningCentre | None = None,
    gate: SpeechGate | None = None,
) -> RunSummary:
    """Start the sources (and a face thread on the video), run the pipeline, stop everything.

    ``runner`` must be active; the sources are opened but not started. Used by ``run`` and by
    ``bench --stream``.
    """
    cfg = runner.meta.config
    faces = None
    try:
        if audio is not None:
            audio.start()
        if video is not None:
            video.start()
            stage = FaceStage(frames=cfg.frames, size=cfg.frame_size, window_seconds=cfg.window_seconds)
            faces = FaceThread(video, stage, clock)
            faces.start()
        return Pipeline(runner, audio, faces, clock, settings, list(sinks), centre, gate).run()
    finally:
        if faces is not None:
            faces.stop()
        for source in (audio, video):
            if source is not None:
                source.stop()
