"""The machine a benchmark ran on, recorded in every report: figures mean nothing without it."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from edgefusion.doctor import report, stack

# doctor's probes that describe compute (audio devices, cameras and disk do not change latency)
MACHINE_PROBES = {"edgefusion", "Python", "OS", "torch", "ONNX Runtime", "NVIDIA GPU", "TensorRT", "Jetson"}


def describe_machine() -> dict[str, Any]:
    """Date, CPU model and cores, and doctor's lines for the software and hardware that set the speed."""
    probes = [p for p in report.PROBES if p.names[0] in MACHINE_PROBES]
    checks, _ = report.collect(probes)
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": stack.cpu_model(),
        "cores": cores,
        "usable_cores": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "checks": {c.name: c.detail for c in checks if c.ok is not None or c.name in ("NVIDIA GPU", "TensorRT")},
    }


def one_line(machine: dict[str, Any]) -> str:
    """``CPU (N cores), GPU or 'no GPU', date`` for table captions."""
    gpu = machine["checks"].get("NVIDIA GPU", "")
    has_gpu = gpu and not gpu.lower().startswith(("none", "no "))
    return (
        f"{machine['cpu']} ({machine['usable_cores']} cores), {gpu if has_gpu else 'no GPU'}, "
        f"load {machine['load_average'][0]:.2f}, {machine['date'][:10]}"
    )
