"""Writing a file so that its final name never holds a half-written one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(file: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """``write`` into a temporary file beside ``file``, then rename it into place; returns ``file``.

    An interrupted run never leaves a truncated file under the final name, and the temporary
    name is unique to this writer, so two processes writing the same path (two runs sharing a
    cache, or given the same ``--out``) never write into, or rename away, each other's file:
    the last rename wins whole.
    """
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=file.parent, prefix=file.name + ".", suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
        try:
            write(f)
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, file)
    return file
