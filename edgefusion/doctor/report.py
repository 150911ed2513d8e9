"""``edgefusion doctor``'s report: every probe run (none may raise), the table, the JSON, the exit status.

``edgefusion doctor``: what this machine can run, and how to fix what it cannot.

Each probe below looks at one part of the stack (Python, PyTorch, ONNX Runtime, OpenCV, audio,
cameras, NVIDIA GPU, TensorRT, Jetson) and returns ``Check`` lines. A probe is quick (well under
2 s: subprocesses and device opens run under timeouts) and never raises: an exception inside
one becomes a failed line carrying the exception's first line.

``ok`` is True (OK), False (MISSING) or None (n/a: does not apply to this machine, e.g. the
Jetson lines on a PC). Only the lines in ``REQUIRED`` can fail the doctor's exit status: they
are what the CPU path (train, export, quantize, run on ONNX Runtime) needs. Everything about
GPUs, TensorRT, Jetson, cameras and microphones is optional and only reported.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgefusion import __version__
from edgefusion.atomic import write_text_atomic
from edgefusion.doctor.base import BUG_FIX, REQUIRED, Check, Probe, first_line
from edgefusion.doctor.board import check_audio, check_cameras, check_jetson
from edgefusion.doctor.stack import (
    check_disk,
    check_edgefusion,
    check_gpu,
    check_onnx,
    check_onnxruntime,
    check_opencv,
    check_pycuda,
    check_python,
    check_shipped,
    check_system,
    check_tensorrt,
    check_torch,
)
from edgefusion.errors import EdgefusionError, located

PROBES: tuple[Probe, ...] = (
    Probe(("edgefusion",), check_edgefusion),
    Probe(("Python",), check_python),
    Probe(("OS", "CPU"), check_system),
    Probe(("torch", "torch CUDA"), check_torch),
    Probe(("onnx", "onnxsim"), check_onnx),
    Probe(("ONNX Runtime", "ONNX Runtime GPU"), check_onnxruntime),
    Probe(("OpenCV", "OpenCV GStreamer"), check_opencv),
    Probe(("NVIDIA GPU",), check_gpu),
    Probe(("TensorRT",), check_tensorrt),
    Probe(("pycuda",), check_pycuda),
    Probe(("shipped model", "voice activity"), check_shipped),
    Probe(("PortAudio", "microphone"), check_audio),
    Probe(("cameras",), check_cameras),
    Probe(("Jetson", "L4T", "JetPack", "power mode"), check_jetson),
    Probe(("disk space",), check_disk),
)


def run_probe(probe: Probe) -> list[Check]:
    """The probe's lines; when it raises, one failed line per name it reports, with the error's first line."""
    try:
        result = probe.run()
    except Exception as e:
        return [Check(name, False, f"the check raised {first_line(e)}", BUG_FIX) for name in probe.names]
    return [result] if isinstance(result, Check) else list(result)


def collect(probes: Sequence[Probe] = PROBES) -> tuple[list[Check], dict[str, float]]:
    """Every probe's lines, in order, and the seconds each probe took (keyed by its first name)."""
    checks: list[Check] = []
    seconds: dict[str, float] = {}
    for probe in probes:
        start = time.perf_counter()
        checks.extend(run_probe(probe))
        seconds[probe.names[0]] = round(time.perf_counter() - start, 3)
    return checks, seconds


def failed_required(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.required and c.ok is False]


def _table(checks: Sequence[Check]) -> Table:
    table = Table(title="edgefusion doctor", title_justify="left", show_lines=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("need", no_wrap=True)
    table.add_column("what")
    table.add_column("how to fix")
    for check in checks:
        style = "green" if check.ok else "dim" if check.ok is None else "bold red" if check.required else "yellow"
        need = "required" if check.required else "optional"
        table.add_row(
            Text(check.status, style=style), Text(check.name), Text(need), Text(check.detail), Text(check.fix)
        )
    return table


def _summary(checks: Sequence[Check]) -> str:
    failed = failed_required(checks)
    if failed:
        names = ", ".join(c.name for c in failed)
        if names == "torch":
            return (
                "1 required check(s) failed (torch): train, export and .pt checkpoints will not work until it "
                "passes; .onnx and .engine artifacts run without it"
            )
        return f"{len(failed)} required check(s) failed ({names}): the CPU path will not work until they pass"
    optional = sum(1 for c in checks if c.ok is False)
    return "the CPU path (train, export, quantize, ONNX Runtime) is ready" + (
        f"; {optional} optional item(s) missing (see 'how to fix')" if optional else ""
    )


def _write_json(path: Path, checks: Sequence[Check], seconds: dict[str, float]) -> None:
    record = {
        "edgefusion_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "failed_required": len(failed_required(checks)),
        "required": sorted(REQUIRED),
        "checks": [{**asdict(c), "status": c.status, "required": c.required} for c in checks],
        "seconds": seconds,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    except OSError as e:
        raise EdgefusionError(located(path, f"cannot write the report ({e.strerror or e})")) from None


def run_doctor(console: Console, json_path: Path | None = None, probes: Sequence[Probe] = PROBES) -> int:
    """Check this machine, print the report as a table, optionally write it as JSON; return the failures.

    The return value is the number of REQUIRED checks that failed (0 = the CPU path works). The
    required ones are Python (>= 3.10), torch, onnx, ONNX Runtime (with its CPU provider) and
    OpenCV with its Haar face cascade. Everything else (NVIDIA GPU, torch CUDA, TensorRT, pycuda,
    ONNX Runtime's GPU providers, onnxsim, OpenCV's GStreamer, PortAudio and a microphone,
    cameras, the Jetson lines, disk space) is optional: reported as OK, MISSING or n/a with how
    to fix it, and never counted in the return value. ``probes`` replaces the list of checks
    (``PROBES``), e.g. to add one.
    """
    checks, seconds = collect(probes)
    console.print(_table(checks))
    console.print(_summary(checks), highlight=False)
    if json_path is not None:
        _write_json(Path(json_path), checks, seconds)
        console.print(f"report written to {json_path}", highlight=False)
    return len(failed_required(checks))
