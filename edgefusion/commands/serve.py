"""``edgefusion serve``: an artifact behind a real Triton Inference Server (PyTriton), until Ctrl-C.

PyTriton's Python-backend stub links the system's ``libpython3.11``, so it runs only in a
virtualenv built from that same interpreter (Debian's ``/usr/bin/python3.11``; see
``shared/notes/environment.md``), and it pins numpy below 2. ``make serve-env`` builds one,
``.venv-serve``, beside the main ``.venv``. When this interpreter lacks PyTriton and that
environment exists, ``serve`` hands itself over to it (the same arguments); otherwise it says how
to get one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from edgefusion.errors import EdgefusionError, located
from edgefusion.serve.server import ServeSettings, check, serve

SERVE_ENV = ".venv-serve"
PYTHON_VAR = "EDGEFUSION_SERVE_PYTHON"  # a serving interpreter elsewhere
HANDED_OVER = "EDGEFUSION_SERVE_HANDED_OVER"  # set in the child: never hand over twice


def serving_python() -> Path | None:
    """The serving interpreter: ``$EDGEFUSION_SERVE_PYTHON``, else ``.venv-serve`` in the checkout."""
    named = os.environ.get(PYTHON_VAR)
    if named:
        return Path(named)
    candidate = Path(__file__).resolve().parents[2] / SERVE_ENV / "bin" / "python"
    return candidate if candidate.exists() else None


def hand_over(argv: list[str]) -> None:
    """Re-run ``edgefusion serve`` in the serving environment (never returns), or raise a one-line error."""
    python = serving_python()
    if python is None or os.environ.get(HANDED_OVER):
        raise EdgefusionError(
            "PyTriton is not installed in this environment: run `make serve-env` (a .venv-serve built from "
            f"Debian's python3.11), or point {PYTHON_VAR} at a Python that has nvidia-pytriton"
        )
    if not python.exists():
        raise EdgefusionError(located(python, f"no such interpreter ({PYTHON_VAR})"))
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[HANDED_OVER] = "1"
    os.execv(str(python), [str(python), "-m", "edgefusion", *argv])


def run(settings: ServeSettings, argv: list[str], say: Callable[[str], None]) -> None:
    """Check ``settings``, then serve them here, or hand over to the serving environment (which checks again)."""
    if not settings.artifact.is_file():
        raise EdgefusionError(located(settings.artifact, "no such file"))
    check(settings)
    if find_spec("pytriton") is None:
        hand_over(argv)
    sizes = serve(settings, say)
    total = sum(sizes.values())
    if total:
        rows = sum(k * v for k, v in sizes.items())
        formed = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        say(f"stopped: {total} batches of {rows} windows (mean {rows / total:.2f}); batch size: count {formed}")
    else:
        say("stopped: no requests served")
