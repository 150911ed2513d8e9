"""User-facing errors.

Anything the user can cause (a bad file, a wrong flag, a missing device) is raised as an
``EdgefusionError`` whose message is one line naming the file and the problem. The CLI prints
that line and exits non-zero, with no traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations

from pathlib import Path


class EdgefusionError(Exception):
    """A problem the user can fix; ``str(err)`` is the one line shown to them."""


class DataError(EdgefusionError):
    """A corpus, clip or file that cannot be read as asked."""


class CheckpointError(EdgefusionError):
    """A file that is not an edgefusion checkpoint of this format version."""


def located(path: str | Path, problem: str) -> str:
    """Format ``"<path>: <problem>"`` on one line (newlines in the problem are flattened)."""
    return f"{path}: {' '.join(str(problem).split())}"


def require_file(path: Path, kind: str) -> None:
    """Raise ``DataError`` unless ``path`` is an existing, non-empty regular file.

    ``kind`` names what was expected in the message, e.g. "audio file".
    """
    if not path.exists():
        raise DataError(located(path, "no such file"))
    if path.is_dir():
        raise DataError(located(path, f"is a directory, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"))
    if path.stat().st_size == 0:
        raise DataError(located(path, "empty file"))
