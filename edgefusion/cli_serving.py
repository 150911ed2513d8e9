"""The serving verbs, added to the command line by ``main``: ``triton`` writes a model repository,
``serve`` runs a Triton server here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edgefusion.cli import app
from edgefusion.cli_options import InstancesOpt, MaxBatchOpt, PreferredOpt, QueueDelayOpt, err, out


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
        artifact=artifact, repo=repo, name=name, version=version, max_batch=max_batch, preferred=preferred,
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
    threads: Annotated[int | None, typer.Option(help="CPU threads for the runner.")] = None,
    backend: Annotated[str | None, typer.Option(help="onnxruntime or tensorrt \\[default: from the artifact].")] = None,
) -> None:
    """Serve an artifact from a real Triton Inference Server (PyTriton) over gRPC and HTTP until Ctrl-C.

    Requests from many clients are batched dynamically. PyTriton needs its own environment
    (`make serve-env`); from another one, serve hands itself over to it.
    """
    from edgefusion.commands import serve as verb
    from edgefusion.commands.triton import int_list
    from edgefusion.serve.server import ServeSettings

    if artifact is None:
        from edgefusion.zoo import shipped

        artifact = shipped("int8-cpu")
    settings = ServeSettings(
        artifact=artifact, name=name, host=host, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
        max_batch=max_batch, preferred=int_list(preferred, "--preferred") if preferred else (),
        max_queue_delay_us=max_queue_delay, threads=threads, backend=backend,
    )  # fmt: skip
    verb.run(settings, sys.argv[1:], lambda line: err.print(line, highlight=False, soft_wrap=True))

