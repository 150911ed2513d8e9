"""Inference latency of runners, measured the same way for every backend.

Runners are timed round-robin (one call of each in turn) so that a slow spell of a shared
machine lands on every artifact alike; figures are medians and tail percentiles of
wall-clock time per ``infer`` call, in milliseconds. Compare them within one run only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from edgefusion.runtime.runner import Runner


@dataclass(frozen=True)
class Latency:
    runs: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds) * 1e3
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(len(ms), float(p50), float(p90), float(p99), float(ms.mean()))

    def to_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def time_runners(
    runners: Mapping[str, Runner],
    feed: dict[str, np.ndarray],
    runs: int = 200,
    warmup: int = 20,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Latency]:
    """Latency of each active runner on ``feed``: ``warmup`` untimed calls each, then ``runs`` timed rounds."""
    for runner in runners.values():
        for _ in range(warmup):
            runner.infer(feed)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.infer(feed)
            seconds[name].append(time.perf_counter() - start)
        if progress is not None:
            progress(1)
    return {name: Latency.of(s) for name, s in seconds.items()}
