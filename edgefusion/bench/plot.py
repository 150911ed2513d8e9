"""The bench report as a picture: latency distributions, and accuracy against p99 latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FIGSIZE = (12.0, 4.8)
DPI = 120


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """Left: the CDF of every artifact's per-call latency (all runs, outliers included), with
    p50 and p99 marked. Right: accuracy against p99 latency (when --data scored them), else
    median and p99 bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows = report["artifacts"]
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, a in enumerate(rows):
        color = colors[i % len(colors)]
        ms = np.sort(np.asarray(a["samples_ms"]))
        label = f"{i + 1}: {a['name']}"  # the number marks the artifact's point on the right
        left.step(ms, np.arange(1, len(ms) + 1) / len(ms), where="post", color=color, label=label)
        for q, marker in ((a["latency"]["median_ms"], "o"), (a["latency"]["p99_ms"], "^")):
            left.plot([q], [np.searchsorted(ms, q, side="right") / len(ms)], marker, color=color)
    left.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 5, 10 rather than 2x10^0
    left.xaxis.set_major_formatter(plain)
    left.xaxis.set_minor_formatter(plain)
    left.tick_params(axis="x", which="minor", labelsize="x-small")
    left.set_xlabel("latency per call (ms, log scale)")
    left.set_ylabel("fraction of calls")
    left.set_title("latency distribution (o median, ^ p99)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize="small", loc="lower right")

    if all("accuracy" in a for a in rows):
        placed: list[tuple[float, float]] = []
        for i, a in enumerate(rows):
            x, y = a["latency"]["p99_ms"], 100 * a["accuracy"]
            right.scatter([x], [y], s=60, color=colors[i % len(colors)])
            # numbers, not names, by the points: artifacts of equal accuracy sit side by side;
            # a number whose point is close to an earlier one moves up a line
            near = sum(1 for px, py in placed if abs(px - x) < 0.04 * max(x, px) and abs(py - y) < 0.3)
            placed.append((x, y))
            right.annotate(str(i + 1), (x, y), textcoords="offset points", xytext=(5, 4 + 10 * near), fontsize="small")
        right.set_xlabel("p99 latency (ms)")
        right.set_ylabel("accuracy (%)")
        right.set_title("accuracy against p99 latency (up and left is better)")
        right.margins(0.25)
    else:
        names = [str(i + 1) for i in range(len(rows))]
        x = np.arange(len(rows))
        right.bar(x - 0.2, [a["latency"]["median_ms"] for a in rows], 0.4, label="median")
        right.bar(x + 0.2, [a["latency"]["p99_ms"] for a in rows], 0.4, label="p99")
        right.set_xticks(x, names)
        right.set_xlabel("artifact (numbered as in the legend)")
        right.set_ylabel("ms")
        right.set_title("latency per artifact")
        right.legend(fontsize="small")
    right.grid(True, alpha=0.3)
    machine = report["machine"]
    fig.suptitle(f"edgefusion bench: {machine['cpu']} ({machine['usable_cores']} cores), {machine['date'][:10]}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
