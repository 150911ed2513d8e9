"""How many devices one server takes: N real-time streams against a Triton server, and beside
them the same N streams as N separate local processes, each with its own runner.

Every stream is a process of its own (as every device is), replaying the clip through the live
pipeline in real time at the hop. All of a round's streams load their runner, warm it up, wait
at a barrier, then start spread across one hop (devices are not in step) and stream for the
same seconds. Every hop is inferred (no VAD): the load a server must take when everyone talks.

Per round: decision latency (hop start to event, the pipeline's ``total``) pooled over the
streams' hops, p50 and p99, and the worst stream's p99; windows answered per second; skipped
hops (a hop overran by the one before) and lost hops (the server did not answer). For a server,
from its own statistics (``/v2/models/NAME/stats``): the batches it formed (executions, windows,
the mean batch) and the model's execution time per window, which falls as batches grow: the
batching gain, apart from the clients sharing the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefusion.runtime.remote_runner import RemoteRunner, ServerUri

JOIN_SECONDS = 120.0  # beyond the streaming itself: loading, warm-up, the barrier


@dataclass(frozen=True)
class StreamsSettings:
    artifact: Path  # the contract (remote) or the model (local)
    audio: Path  # the clip every stream replays
    seconds: float  # of streaming, per round
    hop: float
    server: ServerUri | None = None  # None: local processes
    model_name: str | None = None
    threads: int = 1  # local: each process's ONNX Runtime threads


def _worker(s: StreamsSettings, offset: float, barrier: Any, results: Any) -> None:
    """One stream: load, warm up, wait for the others, start at ``offset`` into the hop, stream."""
    from edgefusion.runtime.clock import Clock
    from edgefusion.runtime.pipeline import StreamSettings
    from edgefusion.runtime.runner import open_runner
    from edgefusion.runtime.session import LatencyRecorder, stream
    from edgefusion.runtime.sources import open_audio

    try:
        if s.server is not None:
            runner: Any = RemoteRunner(s.artifact, s.server, s.model_name, wait=30.0)
        else:
            runner = open_runner(s.artifact, threads=s.threads, spin=False)
        with runner:
            cfg = runner.meta.config
            silence = np.zeros((1, cfg.window_samples), np.float32)
            warm = {"audio": silence, "present": np.array([[1.0, 0.0]], np.float32)}
            for _ in range(3):
                runner.infer(warm)
            barrier.wait(timeout=JOIN_SECONDS)
            time.sleep(offset)
            clock = Clock()
            recorder = LatencyRecorder()
            audio = open_audio(f"file://{s.audio}", clock, cfg.sample_rate)
            summary = stream(runner, audio, None, clock, StreamSettings(hop=s.hop, duration=s.seconds), [recorder])
        results.put(
            {
                "total": recorder.values["total"],
                "inference": recorder.values["inference"],
                "decided": len(recorder.labels),
                "events": summary.events,
                "skipped": summary.skipped,
                "lost": summary.lost,
                "seconds": summary.seconds,
            }
        )
    except Exception as e:  # said once by the parent
        barrier.abort()
        results.put({"error": " ".join(str(e).split()) or type(e).__name__})


def run_round(s: StreamsSettings, n: int) -> dict[str, Any]:
    """``n`` streams at once; their pooled figures."""
    ctx = mp.get_context("spawn")  # each stream a fresh process, as on its own device
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(s, i * s.hop / n, barrier, results), daemon=True) for i in range(n)]
    before = server_stats(s) if s.server is not None else None
    for p in procs:
        p.start()
    got = []
    deadline = time.monotonic() + JOIN_SECONDS + s.seconds + s.hop
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(results.get(timeout=1.0))
        except queue.Empty:  # keep waiting while the streams run
            if not any(p.is_alive() for p in procs) and results.empty():
                break
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    errors = [g["error"] for g in got if "error" in g]
    if errors or len(got) < n:
        from edgefusion.errors import EdgefusionError

        raise EdgefusionError(f"{n} streams: {errors[0] if errors else f'only {len(got)} of {n} streams reported'}")
    row = _pooled(n, got, s.seconds)
    if before is not None:
        row.update(_batches(before, server_stats(s), s.seconds))
    return row


def _pooled(n: int, got: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    total = np.concatenate([g["total"] for g in got])
    p99s = [float(np.percentile(g["total"], 99)) for g in got if g["total"]]
    decided = sum(g["decided"] for g in got)
    return {
        "streams": n,
        "p50_ms": float(np.percentile(total, 50)),
        "p99_ms": float(np.percentile(total, 99)),
        "worst_stream_p99_ms": max(p99s),
        "inference_p50_ms": float(np.percentile(np.concatenate([g["inference"] for g in got]), 50)),
        "windows_per_s": decided / seconds,
        "events": sum(g["events"] for g in got),
        "skipped": sum(g["skipped"] for g in got),
        "lost": sum(g["lost"] for g in got),
    }


def server_stats(s: StreamsSettings) -> dict[str, Any]:
    """The model's cumulative counts from the server: requests (windows), executions, per batch size."""
    import tritonclient.grpc as grpcclient

    from edgefusion.runtime.remote_runner import model_name_for

    assert s.server is not None
    client = grpcclient.InferenceServerClient(s.server.address)
    try:
        stats = client.get_inference_statistics(s.model_name or model_name_for(s.artifact), as_json=True)
    finally:
        client.close()
    model = stats["model_stats"][0]
    batches = model.get("batch_stats", [])
    return {
        "windows": int(model.get("inference_count", 0)),
        "executions": int(model.get("execution_count", 0)),
        "sizes": {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in batches},
        # the model's own time (for PyTriton, the trip to the bound function and back), ns
        "compute_ns": sum(int(b["compute_infer"]["ns"]) for b in batches),
    }


def _batches(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What the server did in a round: executions, the mean batch, its busy share, its time a window."""
    windows = after["windows"] - before["windows"]
    executions = after["executions"] - before["executions"]
    sizes = {k: v - before["sizes"].get(k, 0) for k, v in after["sizes"].items()}
    compute_ms = (after["compute_ns"] - before["compute_ns"]) / 1e6
    return {
        "server_executions": executions,
        "mean_batch": windows / executions if executions else 0.0,
        "max_batch": max((k for k, v in sizes.items() if v > 0), default=0),
        "server_busy": compute_ms / 1e3 / seconds,  # share of the round the model was executing
        "server_ms_per_window": compute_ms / windows if windows else 0.0,
    }


def largest_within(rows: list[dict[str, Any]], hop: float) -> int | None:
    """The most streams whose pooled p99 stayed under the hop with no hop lost or skipped."""
    fine = [r["streams"] for r in rows if r["p99_ms"] < hop * 1e3 and not r["skipped"] and not r["lost"]]
    return max(fine, default=None)
