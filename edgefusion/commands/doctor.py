"""``edgefusion doctor``: what this machine offers the toolkit, each line with how to get what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgefusion.doctor.report import run_doctor


@dataclass(frozen=True)
class DoctorSettings:
    """Where ``edgefusion doctor`` also writes its report (None: the terminal only)."""

    json_path: Path | None = None


def run(s: DoctorSettings, out: Console) -> int:
    """Probe the machine and print the report; the number of required checks that failed."""
    return run_doctor(out, s.json_path)
