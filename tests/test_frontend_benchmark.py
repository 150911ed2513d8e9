"""benchmarks/frontend.py's goal line: judged on every window, the float32 share reported beside it."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_benchmark


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # what the script sets on import, undone after the test
    return load_benchmark("frontend")


def row(name: str, ms: float, speedup: float, diff: float, over: int, windows: int = 64) -> dict[str, Any]:
    return {
        "implementation": name,
        "batch": 1,
        "median_ms": ms,
        "speedup_vs_librosa": speedup,
        "max_diff_db_vs_librosa_f64": diff,
        "windows_over_tolerance": over,
        "windows": windows,
        "equal_output": diff <= 1e-3,
    }


def test_goal_needs_every_window_within_the_bound(script: ModuleType) -> None:
    slow = row("onnxruntime", 0.5, 3.8, 9e-4, 0)
    met, line = script.verdict([slow, row("onnxruntime-batch1", 0.36, 5.2, 9e-4, 0)])
    assert met and line.startswith("goal") and "met (judged: onnxruntime-batch1" in line
    met, line = script.verdict([slow, row("onnxruntime-batch1", 0.36, 5.2, 1.04e-3, 1)])
    assert not met and "max diff 1.04e-03 dB > 1e-03 dB" in line
    assert "1 of 64 windows past 1e-03 dB" in line and "float32 criterion" in line and ") met, not what" in line
    met, line = script.verdict([slow, row("onnxruntime-batch1", 0.36, 4.8, 2e-3, 7)])
    assert not met and "4.80x < 5x" in line and ") MISSED, not what" in line  # 7 > 10% of 64
    met, line = script.verdict([slow, row("onnxruntime-batch1", 0.36, 5.2, 6e-3, 1)])
    assert not met and ") MISSED, not what" in line  # past float32's worst


def test_bad_arguments_are_named_before_anything_is_measured(script: ModuleType, tmp_path: Path) -> None:
    good = {"data": tmp_path, "windows": 64, "runs": 300, "threads": 2, "warmup": 10, "json": None, "markdown": None}
    assert script.bad_args(argparse.Namespace(**good)) is None
    cases = {
        "data": (tmp_path / "missing", "RAVDESS speech folder not found"),
        "windows": (0, "--windows must be at least 1, got 0"),
        "runs": (0, "--runs must be at least 1, got 0"),
        "threads": (0, "--threads must be at least 1, got 0"),
        "warmup": (-1, "--warmup cannot be negative, got -1"),
        "json": (tmp_path / "no" / "x.json", "--json"),
        "markdown": (tmp_path, "--markdown"),  # a folder, not a file
    }
    for name, (value, words) in cases.items():
        problem = script.bad_args(argparse.Namespace(**(good | {name: value})))
        assert problem is not None and words in problem, name
