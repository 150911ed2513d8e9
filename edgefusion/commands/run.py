"""``edgefusion run``: the artifact live on its sources, one event per hop, a latency report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from edgefusion.adaptation import RunningCentre, reference_of
from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs
from edgefusion.runtime.pipeline import RunSummary, StreamSettings
from edgefusion.runtime.session import LatencyRecorder, stream

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class RunSettings:
    """What ``edgefusion run`` is asked to run, on what, and where its events go."""

    model: Path
    audio_uri: str
    video_uri: str
    backend: str | None
    threads: int | None
    hop: float
    smooth: float
    duration: float | None
    fast: bool
    jsonl: Path | None
    save_video: Path | None
    overlay: bool
    cuda_graph: bool
    live_view: bool
    adapt: bool = False


def run(s: RunSettings, err: Console, out: Console) -> RunSummary:
    """Run ``s.model`` live on its sources until they end, ``s.duration`` or Ctrl-C; print the latency report."""
    model, audio_uri, video_uri, backend, threads = s.model, s.audio_uri, s.video_uri, s.backend, s.threads
    hop, smooth, duration, fast, jsonl, save_video = s.hop, s.smooth, s.duration, s.fast, s.jsonl, s.save_video
    overlay, cuda_graph, live_view, adapt = s.overlay, s.cuda_graph, s.live_view, s.adapt
    from edgefusion.runtime.clock import Clock, ManualClock
    from edgefusion.runtime.runner import open_runner
    from edgefusion.runtime.sinks import JsonlSink, OverlayWindow, PrintSink, TerminalSink, VideoSink
    from edgefusion.runtime.source_uri import check_scheme
    from edgefusion.runtime.sources import open_audio, open_video

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
