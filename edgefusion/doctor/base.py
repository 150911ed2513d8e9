"""What every probe of ``edgefusion doctor`` shares: the ``Check`` line, the probe record, and the
helpers that keep a probe quick and quiet (subprocesses under a timeout, files read without raising)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUBPROCESS_TIMEOUT_S = 1.5  # any one external command (nvidia-smi, nvpmodel, dpkg-query, lscpu)
STATUS = {True: "OK", False: "MISSING", None: "n/a"}
# The CPU path: without these nothing trains, exports or runs. Everything else is optional.
REQUIRED = frozenset({"Python", "torch", "onnx", "ONNX Runtime", "OpenCV"})
BUG_FIX = "a bug in `edgefusion doctor` itself: please report this line"
OPENCV_FIX = "pip install 'opencv-python>=4.8,<5' (OpenCV 5 ships no Haar cascades)"


@dataclass
class Check:
    """One line of the report: ``ok`` True (OK), False (MISSING) or None (n/a on this machine)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    @property
    def required(self) -> bool:
        return self.name in REQUIRED

    @property
    def status(self) -> str:
        return STATUS[self.ok]


@dataclass(frozen=True)
class Probe:
    """A check function and the names of the lines it reports (used when it raises)."""

    names: tuple[str, ...]
    run: Callable[[], list[Check]]


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__


def read_text(path: Path) -> str | None:
    """A text file's content without NULs and outer whitespace; None when unreadable or empty."""
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return None
    return text.replace("\x00", " ").strip() or None


def run_tool(command: Sequence[str], timeout: float = SUBPROCESS_TIMEOUT_S) -> subprocess.CompletedProcess[str] | None:
    """Run ``command`` (None when its program is not installed); raises ``TimeoutExpired`` past ``timeout``."""
    program = shutil.which(command[0])
    if program is None:
        return None
    return subprocess.run(
        [program, *command[1:]], capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` in a daemon thread; ``TimeoutError`` when it has not returned within ``timeout`` s.

    A call that hangs (a camera driver, an audio server) is left behind in its thread rather than
    holding up the report.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as e:  # handed to the caller below
            box["error"] = e

    thread = threading.Thread(target=target, name="edgefusion-doctor", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def key_values(text: str, sep: str = ":") -> dict[str, str]:
    pairs = (line.split(sep, 1) for line in text.splitlines() if sep in line)
    return {k.strip(): v.strip() for k, v in pairs}


def version_of(module: Any) -> str:
    return str(getattr(module, "__version__", "?"))
