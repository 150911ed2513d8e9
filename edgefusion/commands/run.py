"""``edgefusion run``: the artifact live on its sources, one event per hop, a latency report.

With no artifact named it runs the shipped model that suits the machine (``export.shipped``).
By default it decides on speech only (a voice activity detector gates the audio) and adapts to
the speaker (a running mean of the voiced windows); both can be turned off, and combinations
that cannot work (adaptation without the VAD, either without audio) are refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from edgefusion.adaptation import AdaptationError, RunningCentre, reference_of
from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs
from edgefusion.runtime.pipeline import RunSummary, StreamSettings
from edgefusion.runtime.remote_runner import RemoteRunner, check_server
from edgefusion.runtime.session import LatencyRecorder, stream
from edgefusion.zoo import shipped

if TYPE_CHECKING:
    from edgefusion.runtime.runner import Runner


@dataclass(frozen=True)
class RunSettings:
    """What ``edgefusion run`` is asked to run, on what, and where its events go."""

    model: Path | None  # None: the shipped model that suits this machine
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
    adapt: bool | None = None  # None: on where the model and the sources allow it
    vad: bool | None = None  # None: on where there is audio
    vad_backend: str | None = None  # None: the default VAD
    server: str | None = None  # grpc://HOST:PORT: infer there (the artifact gives the contract)
    model_name: str | None = None  # the model's name on the server
    wait: float = 0.0  # seconds to keep trying a server that does not answer at the start


def check_gating(s: RunSettings) -> None:
    """Refuse, in one line, the --adapt / --vad combinations that cannot work."""
    no_audio = s.audio_uri == "none"
    if s.vad_backend is not None and s.vad is False:
        raise EdgefusionError(f"--vad-backend {s.vad_backend} with --no-vad: choose one")
    if no_audio and s.vad:
        raise EdgefusionError("--vad listens to the audio, and --audio is none: drop --vad or give an --audio source")
    if no_audio and s.adapt:
        raise EdgefusionError("--adapt centres the voice, and --audio is none: drop --adapt or give an --audio source")
    if s.adapt and s.vad is False:
        raise EdgefusionError(
            "--adapt averages the voiced windows, which the VAD picks, and --no-vad turns it off: "
            "drop --no-vad, or add --no-adapt"
        )


def _centre(s: RunSettings, runner: Runner, model: Path, gated: bool, err: Console) -> RunningCentre | None:
    """The session's speaker adaptation, or None: off when asked, or by default where it cannot run."""
    if s.adapt is False:
        return None
    if s.adapt is None and not gated:  # no audio, or the VAD turned off: nothing picks voiced windows
        return None
    if "audio" not in runner.trained:
        if s.adapt:
            raise EdgefusionError(f"{model}: --adapt centres the voice, and the model was not trained on audio")
        return None
    try:
        return RunningCentre(reference_of(runner.meta.extra, model, runner.adaptable))
    except AdaptationError as e:
        if s.adapt:
            raise
        err.print(f"speaker adaptation off: {e}")
        return None


def run(s: RunSettings, err: Console, out: Console) -> RunSummary:
    """Run ``s.model`` live on its sources until they end, ``s.duration`` or Ctrl-C; print the latency report."""
    model, audio_uri, video_uri, backend, threads = s.model, s.audio_uri, s.video_uri, s.backend, s.threads
    hop, smooth, duration, fast, jsonl, save_video = s.hop, s.smooth, s.duration, s.fast, s.jsonl, s.save_video
    overlay, cuda_graph, live_view = s.overlay, s.cuda_graph, s.live_view
    from edgefusion.runtime.clock import Clock, ManualClock
    from edgefusion.runtime.runner import open_runner
    from edgefusion.runtime.sinks import JsonlSink, OverlayWindow, PrintSink, TerminalSink, VideoSink
    from edgefusion.runtime.source_uri import check_scheme
    from edgefusion.runtime.sources import open_audio, open_video
    from edgefusion.runtime.vad import DEFAULT_VAD, SpeechGate, open_vad

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
    check_gating(s)
    server = check_server(s.server, s.backend, s.cuda_graph, s.wait)
    gated = audio_uri != "none" and s.vad is not False
    uris = {"--audio": audio_uri, "--video": video_uri}
    files = {k: u.removeprefix("file://") for k, u in uris.items() if u.startswith("file://") or "://" not in u}
    check_outputs(  # before any work, a shipped engine's build included
        [("--jsonl", jsonl), ("--save-video", save_video)],
        inputs=[*([("MODEL", model)] if model else []), *((k, Path(f)) for k, f in files.items() if f != "none")],
    )
    if model is None and server is not None:
        model = shipped("int8-cpu")
        err.print(f"no artifact named: {model.name}, the shipped model, gives the contract; {server} runs it")
    elif model is None:
        from edgefusion.export.shipped import shipped_artifact

        model, why = shipped_artifact(err)
        err.print(f"no artifact named: running {why}")
    runner: Runner
    if server is not None:
        runner = RemoteRunner(model, server, s.model_name, wait=s.wait)
    else:
        options: dict[str, Any] = {"threads": threads} if threads else {}
        if cuda_graph:
            options["cuda_graph"] = True
        runner = open_runner(model, backend, **options)
    window = runner.meta.config.window_seconds
    if hop > window:  # (an opened runner holds nothing until activated)
        raise EdgefusionError(
            f"--hop {hop:g} s is longer than the model's {window:g} s window: audio between windows would be lost"
        )
    if runner.masked:
        err.print(
            f"{model.name} was trained on {' and '.join(runner.trained)} only: its {' and '.join(runner.masked)} "
            "path is masked and cannot move a decision"
        )
    gate = SpeechGate(open_vad(s.vad_backend or DEFAULT_VAD), window, runner.meta.config.sample_rate) if gated else None
    centre = _centre(s, runner, model, gated, err)
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
        summary = stream(runner, audio, video, clock, settings, sinks, centre, gate)
    out.print(recorder.table())
    out.print(
        f"{summary.events} events in {summary.seconds:.1f} s ({summary.reason}); skipped hops {summary.skipped}; "
        f"audio overflows {summary.overflows}; runner {runner.description}"
    )
    if isinstance(runner, RemoteRunner):
        out.print(
            f"server: {summary.lost} hops lost unanswered; it failed {runner.failures} requests and came back "
            f"{runner.recoveries} times" + (f" (last failure: {runner.last_failure})" if runner.failures else "")
        )
    if centre is not None:
        out.print(
            f"speaker adaptation: running mean of {centre.count} voiced windows"
            + ("" if centre.ready else f", fewer than the {centre.min_windows} needed: nothing was centred")
        )
    if gate is not None:
        out.print(
            f"voice activity ({gate.vad.name}): speech in {recorder.voiced} of {summary.events} hops; "
            f"{recorder.undecided} hops without anything to decide on"
        )
    if recorder.labels:
        values, counts = np.unique(recorder.labels, return_counts=True)
        out.print(f"majority label: {values[counts.argmax()]} ({counts.max()} of {len(recorder.labels)} decided hops)")
    return summary
