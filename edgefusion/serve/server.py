"""One artifact served by a real Triton Inference Server on this machine, through PyTriton.

PyTriton starts NVIDIA's ``tritonserver`` binary (bundled in the ``nvidia-pytriton`` wheel) and
binds a Python function to a model of its Python backend: here, the artifact's edgefusion
runner (ONNX Runtime for an ``.onnx``, TensorRT for an engine). Triton does the rest: HTTP and
gRPC endpoints (KServe v2), health and readiness, dynamic batching of requests from many
clients into one ``infer`` call, and per-model statistics (``/v2/models/NAME/stats``: how many
requests, how many executions, batch by batch).

The model's inputs and outputs are the artifact's contract without the batch dimension, so a
client that holds the same artifact (``RemoteRunner``) can check it is talking to the same model.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefusion.artifact.contract import DEFAULT_QUEUE_DELAY_US, SHIFT_INPUT
from edgefusion.errors import EdgefusionError
from edgefusion.runtime.remote_runner import model_name_for
from edgefusion.runtime.runner import Runner, backend_for, open_runner

DEFAULT_MAX_BATCH = 32
RESTRICTED = ("shared-memory", "model-repository", "trace", "logging")  # PyTriton's defaults, less statistics
# inputs a request may leave out, zeros in their place: video without a face (150 KB a window not
# sent), the speaker shift when unadapted
OPTIONAL = ("video", SHIFT_INPUT)


@dataclass(frozen=True)
class ServeSettings:
    """What to serve and how: ports, batching, the runner's threads."""

    artifact: Path
    name: str | None = None  # None: the artifact's file name without its suffix
    host: str = "0.0.0.0"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int = DEFAULT_MAX_BATCH
    preferred: tuple[int, ...] = ()
    max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    threads: int | None = None  # each runner's intra-op threads [default: ONNX Runtime's]
    instances: int = 1  # model instances, each a runner of its own, executing batches side by side
    backend: str | None = None

    @property
    def model_name(self) -> str:
        return self.name or model_name_for(self.artifact)


def check(s: ServeSettings) -> None:
    """Refuse, in one line, settings Triton would fail on later."""
    if s.instances < 1:
        raise EdgefusionError(f"--instances must be at least 1, got {s.instances}")
    if s.max_batch < 1:
        raise EdgefusionError(f"--max-batch must be at least 1, got {s.max_batch}")
    if any(p < 1 or p > s.max_batch for p in s.preferred):
        raise EdgefusionError(f"--preferred {s.preferred}: each size must be between 1 and --max-batch {s.max_batch}")
    if s.max_queue_delay_us < 0:
        raise EdgefusionError(f"--max-queue-delay must be 0 or more microseconds, got {s.max_queue_delay_us}")
    ports = {"--http-port": s.http_port, "--grpc-port": s.grpc_port, "--metrics-port": s.metrics_port}
    if len(set(ports.values())) != 3 or not all(0 < p < 65536 for p in ports.values()):
        raise EdgefusionError(f"ports {list(ports.values())}: give three different ports between 1 and 65535")
    for option, port in ports.items():
        _check_free(s.host, port, option)


def _check_free(host: str, port: int, option: str) -> None:
    """Triton would fail later, deep in its log, on a port in use: say so now."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as e:
            problem = f"cannot listen on {host}:{port} ({e.strerror})"
            raise EdgefusionError(f"{option} {port}: {problem}; choose another") from None


def infer_function(
    runner: Runner, sizes: dict[int, int], lock: threading.Lock
) -> Callable[[list[Any]], list[dict[str, np.ndarray]]]:
    """The function Triton calls with the requests it batched: one runner call for all their rows.

    A request may leave out an optional input (``OPTIONAL``: no face, so no video; unadapted, so
    no shift): its rows get zeros, as a local runner gives them. The function counts the batch
    sizes it was given in ``sizes`` (rows per call, shared by the instances under ``lock``)."""
    specs = [t for t in runner.meta.contract if t["io"] == "in"]

    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        rows = [len(r["audio"]) for r in requests]
        feed = {}
        for spec in specs:
            name, dtype, shape = spec["name"], np.dtype(spec["dtype"]), tuple(spec["shape"][1:])
            given = zip(requests, rows, strict=True)
            feed[name] = np.concatenate([r[name] if name in r else np.zeros((n, *shape), dtype) for r, n in given])
        out = runner.infer(feed)
        with lock:
            sizes[sum(rows)] = sizes.get(sum(rows), 0) + 1
        bounds = np.cumsum([0, *rows])
        return [{k: v[lo:hi] for k, v in out.items()} for lo, hi in itertools.pairwise(bounds)]

    return infer


def tensors(runner: Runner) -> tuple[list[Any], list[Any]]:
    """PyTriton ``Tensor``s of the artifact's contract, per row (Triton adds the batch dimension)."""
    from pytriton.model_config import Tensor

    def tensor(spec: dict[str, Any]) -> Any:
        shape = tuple(spec["shape"][1:])
        return Tensor(name=spec["name"], dtype=np.dtype(spec["dtype"]), shape=shape, optional=spec["name"] in OPTIONAL)

    specs = runner.meta.contract
    return [tensor(t) for t in specs if t["io"] == "in"], [tensor(t) for t in specs if t["io"] == "out"]


def serve(s: ServeSettings, say: Callable[[str], None]) -> dict[int, int]:
    """Serve ``s`` (``check`` passed it) until Ctrl-C or SIGTERM; return the batch sizes formed, {size: count}."""
    from pytriton.model_config import DynamicBatcher, ModelConfig
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    options: dict[str, Any] = {"threads": s.threads} if s.threads else {}
    if backend_for(s.artifact, s.backend) == "onnxruntime":
        # idle intra-op threads must not busy-wait: they would take the cores Triton's own threads
        # (and clients on the same machine) need between calls
        options["spin"] = False
    runners = [open_runner(s.artifact, s.backend, **options) for _ in range(s.instances)]
    runner = runners[0]
    config = TritonConfig(
        http_address=s.host,
        http_port=s.http_port,
        grpc_address=s.host,
        grpc_port=s.grpc_port,
        metrics_port=s.metrics_port,
        exit_on_error=True,
        log_verbose=0,
    )
    batcher = DynamicBatcher(
        max_queue_delay_microseconds=s.max_queue_delay_us, preferred_batch_size=list(s.preferred) or None
    )
    inputs, outputs = tensors(runner)
    if runner.meta.batch:
        say(
            f"{s.artifact.name} has a fixed batch of {runner.meta.batch}: Triton still batches requests, and the "
            "runner runs them in turn; `edgefusion export --dynamic-batch` gives a graph that computes them at once"
        )
    sizes: dict[int, int] = {}
    with contextlib.ExitStack() as active:
        lock = threading.Lock()
        infers = [infer_function(active.enter_context(r), sizes, lock) for r in runners]  # an instance each
        # PyTriton keeps the endpoints that change the server behind a token of its own; the per-model
        # statistics only report, and `bench --streams` reads the batches formed from them
        security = TritonSecurityConfig(restricted_endpoints=list(RESTRICTED))
        with Triton(config=config, security_config=security) as triton:
            triton.bind(
                model_name=s.model_name,
                infer_func=infers,
                inputs=inputs,
                outputs=outputs,
                config=ModelConfig(max_batch_size=s.max_batch, batcher=batcher),
                strict=True,
            )
            triton.run()  # starts the server and loads the model; returns once it is ready
            say(
                f"serving {s.artifact.name} as model {s.model_name!r} ({runner.description} x{s.instances}, "
                f"batches up to {s.max_batch}, queue delay {s.max_queue_delay_us} µs): "
                f"grpc://{_shown(s.host)}:{s.grpc_port}, http://{_shown(s.host)}:{s.http_port} "
                "(ready: /v2/health/ready); Ctrl-C stops"
            )
            _wait(triton)
    return dict(sorted(sizes.items()))


def _shown(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "::") else host


def _wait(triton: Any) -> None:
    """Until Ctrl-C, SIGTERM or the server dies; the ``with`` around it stops the server cleanly."""
    import signal

    # Ctrl-C reaches tritonserver too (one process group), which starts shutting down at once; a
    # handler of our own records the request before the loop can see the server gone (a
    # KeyboardInterrupt could land inside PyTriton's own checks and be lost there)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and triton.is_alive():
            stop.wait(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop.is_set():
        raise EdgefusionError("the Triton server stopped on its own (see the lines above)")
