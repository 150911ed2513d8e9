"""What ``edgefusion run`` does: open the artifact and the sources, stream, report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgefusion.adaptation import RunningCentre, reference_of
from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs
from edgefusion.runtime.pipeline import Event, Pipeline, RunSummary, Sink, StreamSettings

if TYPE_CHECKING:
    from edgefusion.runtime.clock import Clock
    from edgefusion.runtime.runner import Runner
    from edgefusion.runtime.sources import AudioSource, VideoSource

STAGES = ("audio_age", "frame_age", "preprocess", "inference", "postprocess", "pipeline", "total")


@dataclass
class LatencyRecorder:
    """A sink that keeps every event's per-stage latency for the closing report."""

    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    labels: list[str] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        for stage in STAGES:
            v = event.latency_ms.get(stage)
            if v is not None and v == v:
                self.values[stage].append(v)
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
) -> RunSummary:
    """Start the sources (and a face thread on the video), run the pipeline, stop everything.

    ``runner`` must be active; the sources are opened but not started. Used by ``run`` and by
    ``bench --stream``.
    """
    from edgefusion.runtime.face_stage import FaceStage, FaceThread

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
        return Pipeline(runner, audio, faces, clock, settings, list(sinks), centre).run()
    finally:
        if faces is not None:
            faces.stop()
        for source in (audio, video):
            if source is not None:
                source.stop()


def run_stream(
    model: Path,
    audio_uri: str,
    video_uri: str,
    backend: str | None,
    threads: int | None,
    hop: float,
    smooth: float,
    duration: float | None,
    fast: bool,
    jsonl: Path | None,
    save_video: Path | None,
    overlay: bool,
    cuda_graph: bool,
    live_view: bool,
    err: Console,
    out: Console,
    adapt: bool = False,
) -> RunSummary:
    from edgefusion.runtime.clock import Clock, ManualClock
    from edgefusion.runtime.runner import open_runner
    from edgefusion.runtime.sinks import JsonlSink, OverlayWindow, PrintSink, TerminalSink, VideoSink
    from edgefusion.runtime.sources import check_scheme, open_audio, open_video

    if hop <= 0:
        raise EdgefusionError(f"--hop must be positive, got {hop}")
    if not 0 <= smooth < 1:
        raise EdgefusionError(f"--smooth must be in [0, 1), got {smooth}")
    if duration is not None and duration <= 0:
        raise EdgefusionError(f"--duration must be positive, got {duration}")
    if audio_uri == "none" and video_uri == "none":
        raise EdgefusionError("--audio and --video are both none: give at least one source")
    schemes = {check_scheme(audio_uri, "audio"), check_scheme(video_uri, "video")}  # an unknown one named first
    if fast and schemes - {"file", "none"}:
        raise EdgefusionError("--fast replays files only; live sources run in real time")
    if threads is not None and threads < 1:
        raise EdgefusionError(f"--threads must be at least 1, got {threads}")
    if save_video is not None and video_uri == "none":
        raise EdgefusionError(f"--save-video {save_video}: there is no video to save; give a --video source")
    uris = {"--audio": audio_uri, "--video": video_uri}
    files = {k: u.removeprefix("file://") for k, u in uris.items() if u.startswith("file://") or "://" not in u}
    check_outputs(
        [("--jsonl", jsonl), ("--save-video", save_video)],
        inputs=[("MODEL", model), *((k, Path(f)) for k, f in files.items() if f != "none")],
    )
    options: dict[str, Any] = {"threads": threads} if threads else {}
    if cuda_graph:
        options["cuda_graph"] = True
    runner = open_runner(model, backend, **options)
    window = runner.meta.config.window_seconds
    if hop > window:  # (an opened runner holds nothing until activated)
        raise EdgefusionError(
            f"--hop {hop:g} s is longer than the model's {window:g} s window: audio between windows would be lost"
        )
    centre = RunningCentre(reference_of(runner.meta.extra, model, runner.adaptable)) if adapt else None
    clock = ManualClock() if fast else Clock()
    audio = open_audio(audio_uri, clock, runner.meta.config.sample_rate)
    video = open_video(video_uri, clock)
    recorder = LatencyRecorder()
    sinks: list[Any] = [recorder]
    if jsonl is not None:
        sinks.append(JsonlSink(jsonl))
    if save_video is not None:
        sinks.append(VideoSink(save_video, hop))
    if overlay:
        sinks.append(OverlayWindow())
    sinks.append(TerminalSink(err, f"{model.name} [{runner.backend}]") if live_view else PrintSink(out))
    with runner:
        settings = StreamSettings(hop=hop, smooth=smooth, duration=duration)
        summary = stream(runner, audio, video, clock, settings, sinks, centre)
    out.print(recorder.table())
    out.print(
        f"{summary.events} events in {summary.seconds:.1f} s ({summary.reason}); skipped hops {summary.skipped}; "
        f"audio overflows {summary.overflows}; runner {runner.description}"
    )
    if centre is not None:
        out.print(
            f"speaker adaptation: running mean of {centre.count} voiced windows"
            + ("" if centre.ready else f", fewer than the {centre.min_windows} needed: nothing was centred")
        )
    if recorder.labels:
        values, counts = np.unique(recorder.labels, return_counts=True)
        out.print(f"majority label: {values[counts.argmax()]} ({counts.max()} of {len(recorder.labels)} hops)")
    return summary
