"""``edgefusion bench``: size, latency, memory, accuracy and a live run of each artifact, side by side.

The report is one JSON-ready dict (``build_report``), which the terminal table, the markdown
table, the plot and ``--compare`` all read; ``run`` is the command around it. The measuring
itself lives in ``edgefusion.bench`` (latency, memory, recommend, report, plot, machine).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgefusion.atomic import write_text_atomic
from edgefusion.config import LIVE_HOP, SCORING_HOP
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs
from edgefusion.runtime.remote_runner import RemoteRunner, check_server
from edgefusion.runtime.runner import Runner, backend_for, open_runner

DEFAULT_RUNS = 200
OVERLOADED = 1.0  # load average per usable core above which a warning says the figures are suspect


@dataclass
class BenchSettings:
    """What ``edgefusion bench`` is asked to measure, how, and where its reports go."""

    artifacts: tuple[Path, ...] = ()
    json_path: Path | None = None
    markdown_path: Path | None = None
    plot_path: Path | None = None
    compare_path: Path | None = None
    warmup: int = 20
    runs: int | None = DEFAULT_RUNS
    seconds: float | None = None
    batch: int = 1
    threads: int | None = None
    backend: str | None = None
    cuda_graph: bool = False  # engines: also time a CUDA-graph variant
    memory: bool = True
    data: Path | None = None
    actors: str | None = None
    calm_as_neutral: bool = False
    cache_dir: Path | None = None
    score_hop: float = SCORING_HOP
    recommend: bool = False
    max_drop: float = 1.0
    budget_ms: float | None = None
    stream: bool = False
    audio: str | None = None
    video: str | None = None
    stream_seconds: float | None = None
    hop: float = LIVE_HOP
    server: str | None = None  # grpc://HOST:PORT: also time (and score) each artifact through this server
    model_name: str | None = None  # its model there [default: named after the artifact]

    def to_dict(self) -> dict[str, Any]:
        """The measuring settings as the report records them (not the artifacts and outputs)."""
        skip = {"artifacts", "json_path", "markdown_path", "plot_path", "compare_path"}
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items() if k not in skip}


@dataclass
class Entry:
    """One artifact (or one variant of it, e.g. with a CUDA graph) as measured."""

    name: str
    path: Path
    runner: Runner
    variant: str = ""
    results: dict[str, Any] = field(default_factory=dict)


# -- checks before any work -------------------------------------------------------------------


def check_settings(
    artifacts: Sequence[Path], s: BenchSettings, outputs: Sequence[Path | None], plot: Path | None = None
) -> None:
    """One-line errors for every mistake that can be seen before measuring."""
    if not artifacts:
        raise EdgefusionError("give at least one artifact (.pt, .onnx or .engine)")
    for path in artifacts:
        if not path.exists():
            raise EdgefusionError(located(path, "no such file"))
        if path.is_dir():
            raise EdgefusionError(located(path, "is a folder, not an artifact (.pt, .onnx or .engine)"))
        backend_for(path, s.backend)  # an unknown suffix is a one-line error
    if s.runs is not None and s.runs < 1:
        raise EdgefusionError(f"--runs must be at least 1, got {s.runs}")
    if s.seconds is not None and s.seconds <= 0:
        raise EdgefusionError(f"--seconds must be positive, got {s.seconds}")
    if s.warmup < 0:
        raise EdgefusionError(f"--warmup cannot be negative, got {s.warmup}")
    if s.batch < 1:
        raise EdgefusionError(f"--batch must be at least 1, got {s.batch}")
    if s.threads is not None and s.threads < 1:
        raise EdgefusionError(f"--threads must be at least 1, got {s.threads}")
    if s.actors and s.data is None:
        raise EdgefusionError("--actors picks clips of --data: give --data DIR too")
    if s.budget_ms is not None and not s.recommend:
        raise EdgefusionError("--budget-ms is a limit for --recommend: add --recommend")
    if s.recommend and s.data is None:
        raise EdgefusionError("--recommend needs --data: the choice weighs accuracy, scored on those clips")
    if s.budget_ms is not None and s.budget_ms <= 0:
        raise EdgefusionError(f"--budget-ms must be positive, got {s.budget_ms}")
    if s.stream and not s.audio:
        raise EdgefusionError("--stream needs an audio source to replay: --audio file://clip.wav")
    if s.stream and s.audio and not s.audio.startswith("file://"):
        raise EdgefusionError(f"--stream replays a file: --audio {s.audio} is not a file:// URI")
    if s.data is not None and not s.data.is_dir():
        raise EdgefusionError(located(s.data, "no such corpus folder"))
    check_outputs(
        [*(("an output", out) for out in outputs), ("--plot", plot)],
        inputs=[("ARTIFACT", a) for a in artifacts],
        input_folders=[s.data] if s.data is not None else [],
    )


def _inputs(runner: Runner) -> list[tuple[str, str, list[Any]]]:
    """The input contract without the batch axis (what must agree for two artifacts to share clips)."""
    return [(t["name"], t["dtype"], list(t["shape"][1:])) for t in runner.meta.contract if t["io"] == "in"]


def check_same_contract(entries: Sequence[Entry]) -> None:
    """Artifacts scored on the same clips must take the same inputs at the same sample rate."""
    first = entries[0]

    def signature(e: Entry) -> tuple[Any, int]:
        return _inputs(e.runner), e.runner.meta.config.sample_rate

    for other in entries[1:]:
        if signature(other) != signature(first):
            raise EdgefusionError(
                f"{first.path} and {other.path} take different inputs ({_describe(first.runner)} vs "
                f"{_describe(other.runner)}): score them on --data in separate runs"
            )


def _describe(runner: Runner) -> str:
    return ", ".join(f"{name} {shape}" for name, _, shape in _inputs(runner))


# -- the feed -------------------------------------------------------------------------------


def timing_feed(runner: Runner, s: BenchSettings, clips: Sequence[Any] | None) -> tuple[dict[str, np.ndarray], str]:
    """Real inputs for timing: windows of --data clips, else of the --audio file, else speech-like tones."""
    from edgefusion.artifact.contract import synthetic_feed

    cfg = runner.meta.config
    if clips:
        from edgefusion.data.store import ClipStore
        from edgefusion.export.parity import clip_feed

        real = clip_feed(clips, ClipStore(cfg, s.cache_dir), cfg, windows=s.batch)
        if len(real["audio"]) == s.batch:
            return real, f"{s.batch} window(s) of --data clips"
    if s.audio and s.audio.startswith("file://"):
        from edgefusion.data.audio import load_audio

        pcm = load_audio(s.audio.removeprefix("file://"), cfg.sample_rate)
        n = cfg.window_samples
        if len(pcm) >= n:
            starts = np.linspace(0, len(pcm) - n, s.batch).astype(int)
            feed = synthetic_feed(cfg, windows=s.batch)  # random crops for the video input
            feed["audio"] = np.stack([pcm[i : i + n] for i in starts]).astype(np.float32)
            return feed, f"{s.batch} window(s) of {s.audio} (video: random crops)"
    stand_in = "speech-like tones and random crops (give --data or --audio for real clips)"
    return synthetic_feed(cfg, windows=s.batch), stand_in


# -- the measurements -------------------------------------------------------------------------


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def score(entries: Sequence[Entry], s: BenchSettings, clips: Sequence[Any], console: Console) -> None:
    from edgefusion.data.store import ClipStore
    from edgefusion.evaluate import predict_clips

    store = ClipStore(entries[0].runner.meta.config, s.cache_dir)
    with _progress(console) as bar:
        for entry in entries:
            task = bar.add_task(f"scoring {entry.name}", total=len(clips))
            scores = predict_clips(
                entry.runner, clips, store, hop=s.score_hop, progress=lambda n, t=task: bar.advance(t, n)
            ).scores()["fused"]
            entry.results["accuracy"] = scores.accuracy
            entry.results["macro_f1"] = scores.macro_f1
            entry.results["clips"] = scores.n


def time_all(
    entries: Sequence[Entry], s: BenchSettings, feeds: dict[str, dict[str, np.ndarray]], console: Console
) -> None:
    """Round-robin timing of every entry, each on its own feed (the same clips where contracts agree)."""
    from edgefusion.bench.latency import time_runners

    runners = {e.name: e.runner for e in entries}
    with _progress(console) as bar:
        task = bar.add_task(f"timing {len(entries)} artifact(s) round-robin", total=s.runs)
        timings = time_runners(runners, feeds, s.runs, s.warmup, s.seconds, lambda n: bar.advance(task, n))
    for entry in entries:
        t = timings[entry.name]
        entry.results["latency"] = t.latency.to_dict()
        entry.results["split_ms"] = t.split_ms
        entry.results["samples_ms"] = [round(v / 1e6, 4) for v in t.samples_ns]
        entry.results["noisy"] = t.latency.noisy


def measure_memory(entries: Sequence[Entry], s: BenchSettings, console: Console) -> None:
    from edgefusion.bench.memory import measure

    with _progress(console) as bar:
        task = bar.add_task("peak memory, one process per artifact", total=len(entries))
        for entry in entries:
            if entry.variant:  # the same engine and buffers as its plain entry
                entry.results["memory"] = None
            else:
                entry.results["memory"] = measure(entry.path, s.backend, s.threads, s.batch).to_dict()
            bar.advance(task, 1)


def stream_all(entries: Sequence[Entry], s: BenchSettings, console: Console) -> None:
    """Each artifact through the whole live pipeline on the replayed clip, in real time."""
    from edgefusion.runtime.clock import Clock
    from edgefusion.runtime.pipeline import StreamSettings
    from edgefusion.runtime.session import LatencyRecorder, stream
    from edgefusion.runtime.sources import open_audio, open_video
    from edgefusion.runtime.vad import DEFAULT_VAD, SpeechGate, open_vad

    assert s.audio is not None
    for entry in entries:
        if entry.variant:
            continue
        clock = Clock()
        audio = open_audio(s.audio, clock, entry.runner.meta.config.sample_rate)
        video = open_video(s.video, clock) if s.video else None
        recorder = LatencyRecorder()
        settings = StreamSettings(hop=s.hop, duration=s.stream_seconds)
        cfg = entry.runner.meta.config
        gate = SpeechGate(open_vad(DEFAULT_VAD), cfg.window_seconds, cfg.sample_rate)  # as `run` decides
        with console.status(f"streaming {s.audio} through {entry.name} in real time"):
            summary = stream(entry.runner, audio, video, clock, settings, [recorder], gate=gate)
        stages = {stage: {k: round(v, 3) for k, v in q.items()} for stage, q in recorder.percentiles().items()}
        entry.results["stream"] = {
            "events": summary.events,
            "skipped": summary.skipped,
            "overflows": summary.overflows,
            "seconds": round(summary.seconds, 2),
            "stages_ms": stages,
        }


# -- the report -------------------------------------------------------------------------------


def _name(path: Path, paths: Sequence[Path]) -> str:
    same = [p for p in paths if p.name == path.name]
    return path.name if len(same) == 1 else str(path)


def build_report(artifacts: Sequence[Path], s: BenchSettings, console: Console) -> dict[str, Any]:
    from edgefusion.bench.machine import describe_machine

    machine = describe_machine()
    warnings: list[str] = []
    load = machine["load_average"][0] / max(machine["usable_cores"], 1)
    if load > OVERLOADED:
        warnings.append(
            f"the machine was busy before the run (load {machine['load_average'][0]:.2f} on "
            f"{machine['usable_cores']} cores): these latencies include other programs' work"
        )
    server = check_server(s.server, None, False, 0.0)
    entries: list[Entry] = []
    for path in artifacts:
        name = _name(path, artifacts)
        backend = backend_for(path, s.backend)
        options: dict[str, Any] = {"threads": s.threads} if s.threads else {}
        if backend == "onnxruntime" and len(artifacts) > 1:
            # timed side by side, a session's idle threads must not spin on the cores the next one needs
            options["spin"] = False
        if backend == "tensorrt":
            options["split_timing"] = True  # h2d / compute / d2h from CUDA events
        entries.append(Entry(name, path, open_runner(path, backend, **options)))
        if s.cuda_graph and backend == "tensorrt":
            graph = open_runner(path, backend, cuda_graph=True, **options)
            entries.append(Entry(f"{name} [CUDA graph]", path, graph, variant="cuda graph"))
        if server is not None:  # the same model on the server: the network and Triton's share of a call
            remote = RemoteRunner(path, server, s.model_name)
            entries.append(Entry(f"{name} [server]", path, remote, variant="server"))

    clips = None
    if s.data is not None:
        check_same_contract(entries)
        from edgefusion.data.corpora import load_clips

        clips = load_clips([s.data], s.actors, s.calm_as_neutral)
        if not clips:
            raise EdgefusionError(located(s.data, f"no clips{' of actors ' + s.actors if s.actors else ''}"))

    for entry in entries:
        entry.results |= {
            "path": str(entry.path),
            "backend": entry.runner.backend,
            "precision": entry.runner.meta.precision,
            "runner": entry.runner.description,
            "variant": entry.variant,
            "size_mb": round(entry.path.stat().st_size / 1e6, 3),
        }
    if s.memory:
        measure_memory(entries, s, console)  # before this process holds any session: nothing shared
    active: list[Entry] = []
    try:
        for entry in entries:
            with console.status(f"loading {entry.name}"):
                entry.runner.activate()
            active.append(entry)
        feeds, sources = {}, {}
        for entry in entries:
            feeds[entry.name], sources[entry.name] = timing_feed(entry.runner, s, clips)
        if clips:
            score(entries, s, clips, console)
        time_all(entries, s, feeds, console)
        if s.stream:
            stream_all(entries, s, console)
    finally:
        for entry in active:
            entry.runner.deactivate()

    for entry in entries:
        lat = entry.results["latency"]
        if entry.results["noisy"]:
            warnings.append(
                f"{entry.name}: latency too variable to trust (coefficient of variation {lat['cv']:.2f}): "
                "the machine is noisy; rerun when it is quiet, or with more --runs"
            )
    report: dict[str, Any] = {
        "tool": "edgefusion bench",
        "machine": machine,
        "settings": s.to_dict() | {"onnxruntime_spinning": len(artifacts) == 1},
        "feed": sources[entries[0].name],
        "artifacts": [{"name": e.name, **e.results} for e in entries],
        "warnings": warnings,
    }
    if s.recommend:
        report["recommendation"] = recommendation(report, s).to_dict()
    return report


def recommendation(report: dict[str, Any], s: BenchSettings) -> Any:
    from edgefusion.bench.recommend import Candidate, recommend

    candidates = [
        Candidate(a["name"], a["precision"], a["accuracy"], a["latency"]["p99_ms"], a["latency"]["median_ms"])
        for a in report["artifacts"]
    ]
    return recommend(candidates, s.max_drop, s.budget_ms)


def run(s: BenchSettings, err: Console, out: Console) -> dict[str, Any]:
    """Measure ``s.artifacts`` side by side, print the table and the verdicts, write the reports."""
    from edgefusion.bench import report as reports

    artifacts, json_path, markdown_path, plot_path, compare_path = (
        list(s.artifacts),
        s.json_path,
        s.markdown_path,
        s.plot_path,
        s.compare_path,
    )
    check_settings(artifacts, s, [json_path, markdown_path], plot_path)
    old = reports.load_report(compare_path) if compare_path is not None else None
    report = build_report(artifacts, s, err)
    if old is not None:
        report["comparison"] = reports.compare_reports(old, report, str(compare_path))
    out.print(reports.terminal_table(report))
    for line in reports.summary_lines(report):
        out.print(line, highlight=False)
    for warning in report["warnings"]:
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True, highlight=False)
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(report, indent=1) + "\n")
        err.print(f"wrote {json_path}")
    if markdown_path is not None:
        write_text_atomic(markdown_path, reports.markdown(report))
        err.print(f"wrote {markdown_path}")
    if plot_path is not None:
        from edgefusion.bench.plot import plot_report

        plot_report(report, plot_path)
        err.print(f"wrote {plot_path}")
    return report
