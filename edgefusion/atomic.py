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
    the last rename wins whole. The file gets the permissions ``open()`` would give it.
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
    # the mode open() would leave: the replaced file's, else the umask's (not the temporary file's 0600)
    mode = file.stat().st_mode & 0o7777 if file.exists() else 0o666 & ~_umask()
    os.chmod(tmp, mode)
    os.replace(tmp, file)
    return file


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(file: str | Path, text: str) -> Path:
    """``write_atomic`` for a text file (UTF-8): a report or summary is whole or absent."""
    return write_atomic(file, lambda f: f.write(text.encode("utf-8")))
