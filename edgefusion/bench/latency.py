"""Inference latency of runners, measured the same way for every backend.

Protocol (after trtexec's): ``warmup`` untimed calls per runner, then timed rounds in which
every runner is called once in turn (round-robin), so that a slow spell of a shared machine
lands on every artifact alike. Each call is one synchronous ``infer`` (a GPU runner
synchronizes its stream before returning) timed with ``time.perf_counter_ns``. Nothing is
dropped: outliers show in p99, max and the standard deviation. Compare figures within one
run; absolute times do not travel between machines, medians and ratios do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from edgefusion.runtime.runner import SPLIT_STAGES, Runner

NOISY_CV = 0.25  # coefficient of variation above which a latency figure is flagged as untrustworthy


@dataclass(frozen=True)
class Latency:
    """Statistics of one artifact's per-call latencies, in milliseconds."""

    runs: int
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    std_ms: float
    batch: int = 1

    @classmethod
    def of(cls, nanoseconds: np.ndarray | list[int], batch: int = 1) -> Latency:
        """From per-call durations in ns (all of them: outliers are part of the answer)."""
        ms = np.asarray(nanoseconds, dtype=np.float64) / 1e6
        if ms.size == 0:
            raise ValueError("no timed runs")
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        mean, top, std = float(ms.mean()), float(ms.max()), float(ms.std())
        return cls(len(ms), float(p50), mean, float(p90), float(p99), top, std, batch)

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean)."""
        return self.std_ms / self.mean_ms if self.mean_ms > 0 else float("nan")

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV

    @property
    def throughput(self) -> float:
        """Samples per second at this batch, one call at a time (batch / mean latency)."""
        return 1e3 * self.batch / self.mean_ms if self.mean_ms > 0 else float("nan")

    def to_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}
        d["cv"] = round(self.cv, 4)
        d["throughput_per_s"] = round(self.throughput, 2)
        return d


@dataclass(frozen=True)
class Timing:
    """One runner's measurement: every call's duration, their statistics and, on a GPU runner, the split."""

    latency: Latency
    samples_ns: tuple[int, ...]
    split_ms: dict[str, float] | None = None  # median ms per SPLIT_STAGES stage (CUDA events)


def time_runners(
    runners: Mapping[str, Runner],
    feeds: Mapping[str, dict[str, np.ndarray]],
    runs: int | None = 200,
    warmup: int = 20,
    seconds: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Timing]:
    """Time each active runner on its feed (``feeds[name]``): ``runs`` timed rounds, or rounds for
    ``seconds`` of wall time; with both, whichever ends first (at least one round always runs).

    ``progress`` is called with 1 after every round.
    """
    clock = time.perf_counter_ns
    if runs is None and seconds is None:
        raise ValueError("give runs or seconds")
    if runs is not None and runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    for name, runner in runners.items():
        for _ in range(warmup):
            runner.infer(feeds[name])
    durations: dict[str, list[int]] = {name: [] for name in runners}
    splits: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    deadline = None if seconds is None else clock() + int(seconds * 1e9)
    done = 0
    while True:
        for name, runner in runners.items():
            feed = feeds[name]
            start = clock()
            runner.infer(feed)
            durations[name].append(clock() - start)
            if runner.last_split is not None:
                splits[name].append(dict(runner.last_split))
        done += 1
        if progress is not None:
            progress(1)
        if (runs is not None and done >= runs) or (deadline is not None and clock() >= deadline):
            break
    return {
        name: Timing(
            Latency.of(durations[name], len(feeds[name]["audio"])), tuple(durations[name]), _median_split(splits[name])
        )
        for name in runners
    }


def _median_split(samples: list[dict[str, float]]) -> dict[str, float] | None:
    if not samples:
        return None
    return {stage: round(float(np.median([s[stage] for s in samples])), 4) for stage in SPLIT_STAGES}
