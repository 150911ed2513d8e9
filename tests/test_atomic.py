"""write_atomic: the final name holds the old file or the whole new one, never a part."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pytest

from edgefusion.atomic import write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.bin"
    assert write_atomic(target, lambda f: f.write(b"old")) == target  # makes the folder too

    def half_then_fail(f: IO[bytes]) -> None:
        f.write(b"new, half written")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]


def test_each_writer_has_its_own_temporary(tmp_path: Path) -> None:
    """A writer that starts while another is mid-write finishes without touching the other's file."""
    target = tmp_path / "cache.npy"
    seen: list[str] = []

    def outer(f: IO[bytes]) -> None:
        seen.append(f.name)
        write_atomic(target, lambda g: (seen.append(g.name), g.write(b"inner")))
        f.write(b"outer")

    write_atomic(target, outer)
    assert len(set(seen)) == 2 and target.read_bytes() == b"outer"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npy"]
