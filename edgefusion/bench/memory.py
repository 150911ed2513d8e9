"""Peak memory of one artifact, measured in a process of its own.

Round-robin timing holds every runner in one process, where the peak belongs to all of them
at once; so memory is measured apart: a fresh interpreter opens ONE runner, activates it,
runs ``CALLS`` inferences and reports its peak resident set (``VmHWM``), the resident set
before the runner was opened (the interpreter, numpy and edgefusion's own modules: the same for
every backend, so that each runner's share includes its framework's import, torch's or ONNX
Runtime's or TensorRT's, wherever that runner happens to import it) and, on a GPU runner, the
device memory the runner took. ``python -m edgefusion.bench.memory ARTIFACT [--backend B] [--threads N]
[--batch B]`` prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefusion.errors import EdgefusionError, located

CALLS = 20  # inferences after activation: arenas and caches reach their working size
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Memory:
    peak_rss_mb: float  # the process's peak resident set
    base_rss_mb: float  # resident set before the runner was opened
    device_mb: float | None = None  # device memory taken by the runner (GPU runners)

    @property
    def runner_mb(self) -> float:
        """What opening, activating and running the artifact added to the process."""
        return self.peak_rss_mb - self.base_rss_mb

    def to_dict(self) -> dict[str, float | None]:
        return {
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "base_rss_mb": round(self.base_rss_mb, 1),
            "runner_mb": round(self.runner_mb, 1),
            "device_mb": None if self.device_mb is None else round(self.device_mb, 1),
        }


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A ``/proc/PID/status`` memory field (kB, e.g. ``VmRSS``) in MB, or None where there is
    no procfs, no such process or no such field."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _rss_mb() -> float:
    rss = status_mb("VmRSS")
    return float("nan") if rss is None else rss


def _peak_rss_mb() -> float:
    """This process image's peak resident set: ``VmHWM``, not ``ru_maxrss``.

    Linux carries ``ru_maxrss`` over ``execve`` from the image that ran before, which for a
    probe that ``subprocess`` starts is its parent's (fork and vfork share or copy the parent's
    memory): the probe would report at least what ``edgefusion bench`` itself held. ``VmHWM``
    belongs to the probe's own address space, new at exec.
    """
    hwm = status_mb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if hwm is None else hwm


def _gpu_free_bytes() -> int | None:
    """Free device memory seen from GPU 0's primary context (pycuda), or None without CUDA."""
    try:
        import pycuda.driver as cuda

        cuda.init()
        context = cuda.Device(0).retain_primary_context()
    except Exception:
        return None
    context.push()
    try:
        free, _total = cuda.mem_get_info()
    finally:
        context.pop()
        context.detach()
    return int(free)


def measure_here(path: Path, backend: str | None, options: dict[str, Any], batch: int) -> Memory:
    """Open, activate and run the artifact in this process; its memory figures."""
    from edgefusion.artifact.contract import synthetic_feed
    from edgefusion.runtime.runner import open_runner

    base = _rss_mb()
    runner = open_runner(path, backend, **options)
    feed = synthetic_feed(runner.meta.config, windows=batch)
    on_gpu = runner.backend == "tensorrt"
    free_before = _gpu_free_bytes() if on_gpu else None
    with runner:
        for _ in range(CALLS):
            runner.infer(feed)
        free_after = _gpu_free_bytes() if on_gpu else None
    device = None
    if free_before is not None and free_after is not None:
        device = (free_before - free_after) / 2**20
    return Memory(_peak_rss_mb(), base, device)


def measure(path: Path, backend: str | None = None, threads: int | None = None, batch: int = 1) -> Memory:
    """``measure_here`` in a fresh interpreter, so that no other runner shares the peak."""
    cmd = [sys.executable, "-m", "edgefusion.bench.memory", str(path), "--batch", str(batch)]
    if backend:
        cmd += ["--backend", backend]
    if threads:
        cmd += ["--threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EdgefusionError(located(path, f"the memory probe ran past {TIMEOUT_S:.0f} s")) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgefusionError(located(path, f"the memory probe failed: {last}"))
    values = json.loads(proc.stdout.strip().splitlines()[-1])
    return Memory(values["peak_rss_mb"], values["base_rss_mb"], values["device_mb"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Peak memory of one artifact (one JSON line).")
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args(argv)
    options: dict[str, Any] = {"threads": args.threads} if args.threads else {}
    memory = measure_here(args.artifact, args.backend, options, args.batch)
    figures = {"peak_rss_mb": memory.peak_rss_mb, "base_rss_mb": memory.base_rss_mb, "device_mb": memory.device_mb}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
