"""The verbs that run artifacts, added to the command line by ``main``: ``run`` (live), ``bench``
(side by side, and many streams against a server), ``triton`` (a model repository) and ``serve``
(a Triton server here)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edgefusion.cli import app
from edgefusion.cli_options import (
    AdaptOpt,
    CacheOpt,
    CalmOpt,
    InstancesOpt,
    MaxBatchOpt,
    ModelNameOpt,
    PreferredOpt,
    QueueDelayOpt,
    ServerOpt,
    VadBackendOpt,
    VadOpt,
    WaitOpt,
    err,
    int_list,
    out,
)
from edgefusion.config import LIVE_HOP


@app.command()
def run(
    model: Annotated[
        Path | None,
        typer.Argument(
            metavar="[ARTIFACT]",
            help="A checkpoint (.pt) or an exported artifact (.onnx, .engine), run by its backend "
            "\\[default: the shipped model that suits this machine].",
        ),
    ] = None,
    model_opt: Annotated[
        Path | None, typer.Option("--model", "-m", help="The artifact, as an option (instead of the positional).")
    ] = None,
    audio: Annotated[
        str, typer.Option(help="Audio source: mic://default, mic://N, file://clip.wav, or none.")
    ] = "mic://default",
    video: Annotated[
        str,
        typer.Option(
            help="Video source: camera://0, v4l2:///dev/video0, csi://0 (Jetson), gst://PIPELINE, file://clip.mp4, "
            "or none."
        ),
    ] = "none",
    backend: Annotated[
        str | None, typer.Option(help="torch, onnxruntime or tensorrt \\[default: from the artifact].")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the runner.")] = None,
    hop: Annotated[float, typer.Option(help="Seconds between inferences.")] = LIVE_HOP,
    smooth: Annotated[
        float, typer.Option(help="Smoothing: weight of the previous probabilities, 0 (none) to <1.")
    ] = 0.5,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds of stream.")] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="file:// sources only: replay as fast as possible on a manual clock (repeatable events)."
        ),
    ] = False,
    jsonl: Annotated[Path | None, typer.Option(help="Write every event to this file, one JSON a line.")] = None,
    save_video: Annotated[
        Path | None, typer.Option(help="Write the frames with face box and probabilities to this mp4.")
    ] = None,
    overlay: Annotated[bool, typer.Option("--overlay", help="Show the overlay in a window (needs a display).")] = False,
    cuda_graph: Annotated[
        bool, typer.Option("--cuda-graph", help="TensorRT: capture inference in a CUDA graph and replay it.")
    ] = False,
    live_view: Annotated[
        bool, typer.Option("--live/--print", help="A live terminal view, or one printed line per event.")
    ] = True,
    adapt: AdaptOpt = None,
    vad: VadOpt = None,
    vad_backend: VadBackendOpt = None,
    server: ServerOpt = None,
    model_name: ModelNameOpt = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Run the model live on a microphone and a camera (or replayed files): emotion and per-stage latency.

    With no ARTIFACT, the shipped speech model (docs/model-card.md) that suits this machine runs.
    With --server, a Triton server runs the model and everything else stays here.
    """
    from edgefusion.commands import run as verb
    from edgefusion.errors import EdgefusionError

    if model is not None and model_opt is not None:
        raise EdgefusionError(f"two artifacts: {model} and --model {model_opt}; give one")
    settings = verb.RunSettings(
        model=model or model_opt, audio_uri=audio, video_uri=video, backend=backend, threads=threads, hop=hop,
        smooth=smooth, duration=duration, fast=fast, jsonl=jsonl, save_video=save_video, overlay=overlay,
        cuda_graph=cuda_graph, live_view=live_view, adapt=adapt, vad=vad, vad_backend=vad_backend,
        server=server, model_name=model_name, wait=wait,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def bench(
    artifacts: Annotated[
        list[Path],
        typer.Argument(
            metavar="ARTIFACT", help="Artifacts to compare: checkpoints (.pt), ONNX (fp32, fp16, int8), engines."
        ),
    ],
    warmup: Annotated[int, typer.Option(help="Untimed calls per artifact before timing.")] = 20,
    runs: Annotated[
        int | None,
        typer.Option(
            help="Timed rounds, one call of each artifact per round \\[default: 200, or none with --seconds]."
        ),
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Time for this many seconds instead (with --runs: whichever ends first).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Windows per call.")] = 1,
    threads: Annotated[int | None, typer.Option(help="CPU threads for ONNX Runtime and PyTorch.")] = None,
    backend: Annotated[
        str | None, typer.Option(help="torch, onnxruntime or tensorrt for every artifact \\[default: by suffix].")
    ] = None,
    cuda_graph: Annotated[
        bool, typer.Option("--cuda-graph", help="Engines: also time each with its inference in a CUDA graph.")
    ] = False,
    memory: Annotated[
        bool, typer.Option("--memory/--no-memory", help="Measure peak memory, one process per artifact.")
    ] = True,
    data: Annotated[
        Path | None, typer.Option(help="Corpus to score accuracy and macro-F1 on (and to draw timing inputs from).")
    ] = None,
    actors: Annotated[str | None, typer.Option(help="Score only these actors of --data, e.g. '13-16'.")] = None,
    recommend_: Annotated[
        bool, typer.Option("--recommend", help="Name the artifact to ship and say why (needs --data).")
    ] = False,
    max_drop: Annotated[
        float, typer.Option(help="--recommend: accuracy points an artifact may lose against float32.")
    ] = 1.0,
    budget_ms: Annotated[
        float | None, typer.Option(help="--recommend: the most accurate artifact whose p99 fits this budget.")
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Also run each artifact through the live pipeline on --audio, in real time, gated by the VAD "
            "as `run` is (its cost is the vad stage).",
        ),
    ] = False,
    audio: Annotated[
        str | None,
        typer.Option(help="file://clip.wav: the clip --stream replays (also the timing input without --data)."),
    ] = None,
    video: Annotated[str | None, typer.Option(help="file://clip.mp4: a video --stream replays with the audio.")] = None,
    stream_seconds: Annotated[
        float | None, typer.Option(help="--stream: stop after this many seconds \\[default: the clip's length].")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write every figure, the machine and the settings.")
    ] = None,
    markdown_path: Annotated[Path | None, typer.Option("--markdown", help="Write the table as markdown.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write latency CDFs and accuracy against p99 to this PNG.")] = None,
    compare: Annotated[
        Path | None, typer.Option(help="An earlier --json report: show changes, flag regressions beyond the noise.")
    ] = None,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
    streams: Annotated[
        str | None,
        typer.Option(
            help="Rounds of this many concurrent real-time streams of --audio (each a process, every hop "
            "inferred), e.g. 1,2,4,8: to --server, and as separate local processes.",
        ),
    ] = None,
    server: ServerOpt = None,
    model_name: ModelNameOpt = None,
    local: Annotated[
        bool, typer.Option("--local/--no-local", help="--streams: also run each round as local processes.")
    ] = True,
) -> None:
    """Latency (median, p90, p99, max, std), throughput, memory, size and accuracy of artifacts, side by side.

    Artifacts are timed round-robin on the same real inputs after a warm-up, every call counted.
    Compare figures within one run: medians and ratios travel between machines, absolute times do not.
    """
    if streams:
        from edgefusion.commands import bench_streams

        bench_streams.run(
            bench_streams.StreamsBenchSettings(
                artifacts=tuple(artifacts), streams=int_list(streams, "--streams"), audio=audio, server=server,
                model_name=model_name, local=local, seconds=stream_seconds, threads=threads, json_path=json_path,
                markdown_path=markdown_path,
            ),
            err, out,
        )  # fmt: skip
        return
    from edgefusion.commands import bench as verb

    settings = verb.BenchSettings(
        artifacts=tuple(artifacts), json_path=json_path, markdown_path=markdown_path, plot_path=plot,
        compare_path=compare, warmup=warmup, runs=verb.DEFAULT_RUNS if runs is None and seconds is None else runs,
        seconds=seconds, batch=batch, threads=threads, backend=backend,
        cuda_graph=cuda_graph, memory=memory, data=data, actors=actors, calm_as_neutral=calm_as_neutral,
        cache_dir=cache_dir, recommend=recommend_, max_drop=max_drop, budget_ms=budget_ms, stream=stream,
        audio=audio, video=video, stream_seconds=stream_seconds, server=server, model_name=model_name,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def triton(
    artifact: Annotated[Path, typer.Argument(metavar="ARTIFACT", help="An exported .onnx or a TensorRT .engine.")],
    repo: Annotated[Path, typer.Option("--repo", "-o", help="The model repository folder (made if missing).")],
    name: Annotated[str, typer.Option(help="The model's name in the repository.")] = "edgefusion",
    version: Annotated[int, typer.Option(help="Its version folder.")] = 1,
    max_batch: MaxBatchOpt = None,
    preferred: PreferredOpt = None,
    max_queue_delay: QueueDelayOpt = 2000,
    instances: InstancesOpt = ["cpu:1"],  # noqa: B006 (typer reads the default, nothing mutates it)
) -> None:
    """Write an artifact as a model of a Triton Inference Server repository: config.pbtxt and a version folder."""
    from edgefusion.commands import triton as verb

    settings = verb.TritonRepoSettings(
        artifact=artifact, repo=repo, name=name, version=version, max_batch=max_batch,
        preferred=int_list(preferred, "--preferred"),
        max_queue_delay_us=max_queue_delay, instances=tuple(instances),
    )  # fmt: skip
    verb.run(settings, out)


@app.command()
def serve(
    artifact: Annotated[
        Path | None,
        typer.Argument(
            metavar="[ARTIFACT]",
            help="The artifact to serve (.onnx; an .engine where TensorRT runs) "
            "\\[default: the shipped CPU INT8 model].",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The model's name \\[default: the file name without suffix].")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "0.0.0.0",
    grpc_port: Annotated[int, typer.Option(help="gRPC port (what `run --server grpc://HOST:PORT` uses).")] = 8001,
    http_port: Annotated[int, typer.Option(help="HTTP port (health: /v2/health/ready).")] = 8000,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port.")] = 8002,
    max_batch: Annotated[int, typer.Option(help="Largest batch Triton forms from waiting requests.")] = 32,
    preferred: PreferredOpt = None,
    max_queue_delay: QueueDelayOpt = 2000,
    threads: Annotated[int | None, typer.Option(help="CPU threads for each runner.")] = None,
    instances: Annotated[
        int, typer.Option(help="Model instances, each its own runner, executing batches side by side.")
    ] = 1,
    backend: Annotated[str | None, typer.Option(help="onnxruntime or tensorrt \\[default: from the artifact].")] = None,
) -> None:
    """Serve an artifact from a real Triton Inference Server (PyTriton) over gRPC and HTTP until Ctrl-C.

    Requests from many clients are batched dynamically. PyTriton needs its own environment
    (`make serve-env`); from another one, serve hands itself over to it.
    """
    from edgefusion.commands import serve as verb
    from edgefusion.serve.server import ServeSettings

    if artifact is None:
        from edgefusion.zoo import shipped

        artifact = shipped("int8-cpu")
    settings = ServeSettings(
        artifact=artifact, name=name, host=host, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
        max_batch=max_batch, preferred=int_list(preferred, "--preferred"),
        max_queue_delay_us=max_queue_delay, threads=threads, instances=instances, backend=backend,
    )  # fmt: skip
    verb.run(settings, sys.argv[1:], lambda line: err.print(line, highlight=False, soft_wrap=True))

