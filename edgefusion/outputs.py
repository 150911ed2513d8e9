"""Outputs that never destroy work: every verb checks what it will write before it starts.

``check_outputs`` refuses, each in one line naming the file: an output that is one of the
command's inputs (by name, through a link, or as the same file under another path); an existing
file inside an input folder (a corpus clip); two outputs of one command at one path (``train
--out m.json`` and its own ``m.json`` summary); an output that is a folder; and a folder that is
missing or cannot be written, found by writing a probe file there, so that a training run never
reaches a write it cannot make.

``claim`` holds an output for the length of a job: a second process given the same path while
the first runs is refused at its start, so two writers cannot both report success.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from edgefusion.errors import EdgefusionError, located, require_writable

LOCK_SUFFIX = ".lock"


def _same(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (one of them may not exist yet)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_outputs(
    outputs: Sequence[tuple[str, Path | None]],
    inputs: Sequence[tuple[str, Path]] = (),
    input_folders: Sequence[Path] = (),
) -> None:
    """Raise ``EdgefusionError`` before any work if writing ``outputs`` could destroy something.

    ``outputs``/``inputs`` are ``(what, path)`` pairs, ``what`` naming the option or argument
    in the message (``"--out"``, ``"the summary"``, ``"MODEL"``); a ``None`` output is skipped.
    Each output must also pass ``require_writable`` (a file name, in a folder this process can
    write in); a plot output (``what`` containing "plot") must end in a format the plot writer takes.
    """
    given = [(what, Path(p)) for what, p in outputs if p is not None]
    for i, (what, path) in enumerate(given):
        require_writable(path, plot="plot" in what)
        for source, src in inputs:
            if _same(path, Path(src)):
                raise EdgefusionError(located(path, f"{what} is also the input {source}: write to another file"))
        for folder in input_folders:
            if path.exists() and _inside(path, Path(folder)):
                raise EdgefusionError(located(path, f"{what} would overwrite a file of the corpus {folder}"))
        for other, earlier in given[:i]:
            if _same(path, earlier):
                raise EdgefusionError(located(path, f"{what} and {other} are the same file: give them different names"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def claim(path: Path) -> Iterator[Path]:
    """Hold ``path`` for this process while the ``with`` block runs (a lock file beside it).

    Raises ``EdgefusionError`` when a live process holds it; a lock left by a process that died
    is taken over. The lock is removed when the block ends, however it ends.
    """
    lock = lock_path(path)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and _alive(holder):
                problem = f"another edgefusion process (pid {holder}) is writing it; wait for it or write elsewhere"
                raise EdgefusionError(located(path, problem)) from None
            lock.unlink(missing_ok=True)  # stale: its writer is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        break
    else:
        raise EdgefusionError(located(path, f"cannot take the lock {lock}"))
    try:
        yield path
    finally:
        lock.unlink(missing_ok=True)


def pending_path(out: Path) -> Path:
    """Where an artifact is written before it has passed its checks (never picked up as ``*.onnx``)."""
    return out.with_name(f".{out.name}.pending")
