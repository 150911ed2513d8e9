"""User-facing errors.

Anything the user can cause (a bad file, a wrong flag, a missing device) is raised as an
``EdgefusionError`` whose message is one line naming the file and the problem. The CLI prints
that line and exits non-zero, with no traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations

import tempfile
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


PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def require_writable(path: Path, plot: bool = False) -> None:
    """Raise ``EdgefusionError`` unless ``path`` can be written as a file: checked before the work.

    A folder, a name whose folder is missing, or a folder this process cannot write in fails here
    rather than after minutes of work.
    ``plot``: the name must also end in a format the plot writer takes (``PLOT_SUFFIXES``).
    """
    if path.is_dir():
        raise EdgefusionError(located(path, "is a folder: give a file name to write"))
    if not path.parent.is_dir():
        raise EdgefusionError(located(path, f"folder {path.parent} does not exist"))
    if plot and path.suffix.lower() not in PLOT_SUFFIXES:
        raise EdgefusionError(located(path, f"a plot is written as {', '.join(PLOT_SUFFIXES)}: end the name in one"))
    try:  # a probe file: permissions, a read-only mount and a full quota all show here, not at the end
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise EdgefusionError(located(path, f"cannot write in {path.parent} ({e.strerror or e})")) from None
