"""A bench report as a terminal table, a markdown table, summary lines, and against an earlier report.

Every function reads the JSON-ready dict ``edgefusion.commands.bench.build_report`` makes, so a
report loaded from ``--json`` renders and compares exactly like a fresh one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from edgefusion.bench.machine import one_line
from edgefusion.errors import EdgefusionError, located
from edgefusion.runtime.runner import SPLIT_STAGES
from edgefusion.wording import plural

# --compare: a change counts only when the bootstrap interval of the median ratio clears both
# the noise and this much effect (smaller shifts are not worth a flag on a shared machine)
MIN_EFFECT = 0.05
BOOTSTRAP = 2000
CONFIDENCE = 0.95
SEED = 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _columns(report: dict[str, Any]) -> tuple[bool, bool, bool]:
    rows = report["artifacts"]
    return (
        any("accuracy" in a for a in rows),
        any(a.get("split_ms") for a in rows),
        any(a.get("memory") for a in rows),
    )


def _row(a: dict[str, Any], accuracy: bool, split: bool, memory: bool) -> list[str]:
    lat = a["latency"]
    cells = [a["name"], a["runner"], f"{a['size_mb']:.2f}"]
    if accuracy:
        cells += [f"{a['accuracy']:.1%}", f"{a['macro_f1']:.3f}"] if "accuracy" in a else ["-", "-"]
    cells += [_ms(lat[k]) for k in ("median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms")]
    cells.append(f"{lat['throughput_per_s']:.1f}")
    if split:
        s = a.get("split_ms")
        cells.append(" / ".join(_ms(s[k]) for k in SPLIT_STAGES) if s else "-")
    if memory:
        m = a.get("memory")
        cell = f"{m['peak_rss_mb']:.0f} (+{m['runner_mb']:.0f})" if m else "-"
        if m and m.get("device_mb") is not None:
            cell += f", GPU {m['device_mb']:.0f}"
        cells.append(cell)
    return cells


def _headers(accuracy: bool, split: bool, memory: bool) -> list[str]:
    cols = ["artifact", "runner", "size MB"]
    if accuracy:
        cols += ["accuracy", "macro-F1"]
    cols += ["median ms", "mean ms", "p90 ms", "p99 ms", "max ms", "std ms", "per s"]
    if split:
        cols.append("h2d / compute / d2h ms")
    if memory:
        cols.append("peak RSS MB (+runner)")
    return cols


def caption(report: dict[str, Any]) -> str:
    s = report["settings"]
    amount = f"{s['runs']} runs" if s["runs"] is not None else f"{s['seconds']} s"
    if s["runs"] is not None and s["seconds"] is not None:
        amount = f"{s['runs']} runs or {s['seconds']} s"
    threads = f", {plural(s['threads'], 'thread')}" if s["threads"] else ""
    first = report["artifacts"][0]["latency"]["runs"]
    return (
        f"{one_line(report['machine'])}; batch {s['batch']}{threads}, {s['warmup']} warm-up then {amount} "
        f"round-robin ({first} timed calls each); feed: {report['feed']}"
    )


def terminal_table(report: dict[str, Any]) -> Table:
    flags = _columns(report)
    table = Table(title=caption(report), title_justify="left")
    for i, col in enumerate(_headers(*flags)):
        table.add_column(col, justify="left" if i < 2 else "right")
    for a in report["artifacts"]:
        table.add_row(*_row(a, *flags))
    return table


def markdown(report: dict[str, Any]) -> str:
    flags = _columns(report)
    headers = _headers(*flags)
    lines = [
        caption(report),
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(headers) - 2)) + "|",
    ]
    for a in report["artifacts"]:
        lines.append("| " + " | ".join(_row(a, *flags)) + " |")
    extra = summary_lines(report)
    if extra:
        lines += [""] + [f"- {line}" for line in extra]
    return "\n".join(lines) + "\n"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Recommendation, live-pipeline figures and comparison, one line each."""
    lines: list[str] = []
    rec = report.get("recommendation")
    if rec is not None:
        lines.append(f"recommendation: {rec['reason']}")
    for a in report["artifacts"]:
        st = a.get("stream")
        if not st:
            continue
        stages = st["stages_ms"]
        parts = [f"{k} p50/p99 {v['median']:.2f}/{v['p99']:.2f}" for k, v in stages.items() if k != "frame_age"]
        lines.append(
            f"stream {a['name']}: {st['events']} events in {st['seconds']} s, skipped hops {st['skipped']}, "
            f"overflows {st['overflows']}; ms: {', '.join(parts)}"
        )
    for change in report.get("comparison", {}).get("changes", []):
        lines.append(change["line"])
    return lines


# -- comparison -------------------------------------------------------------------------------


def load_report(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise EdgefusionError(located(path, "no such report (write one with `edgefusion bench ... --json FILE`)"))
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgefusionError(located(path, f"not a JSON report ({e})")) from None
    if not isinstance(report, dict) or report.get("tool") != "edgefusion bench" or "artifacts" not in report:
        raise EdgefusionError(located(path, "not a report written by `edgefusion bench --json`"))
    return report


def median_ratio_interval(old: np.ndarray, new: np.ndarray, seed: int = SEED) -> tuple[float, float, float]:
    """New median / old median, with a bootstrap ``CONFIDENCE`` interval (resampling both runs)."""
    rng = np.random.default_rng(seed)
    old_medians = np.median(rng.choice(old, (BOOTSTRAP, len(old))), axis=1)
    new_medians = np.median(rng.choice(new, (BOOTSTRAP, len(new))), axis=1)
    ratios = new_medians / old_medians
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(np.median(new) / np.median(old)), float(low), float(high)


def compare_reports(old: dict[str, Any], new: dict[str, Any], old_name: str = "the old report") -> dict[str, Any]:
    """Per artifact (matched by name): the median latency ratio and its interval; accuracy change.

    A latency change is flagged only when its whole interval lies beyond ``MIN_EFFECT``: within
    the noise of the two runs there is nothing to report. Accuracy drops by any amount are flagged
    when the same clips were scored (same --data and --actors).
    """
    before = {a["name"]: a for a in old["artifacts"]}
    same_clips = (old["settings"].get("data"), old["settings"].get("actors")) == (
        new["settings"].get("data"),
        new["settings"].get("actors"),
    )
    changes = []
    for a in new["artifacts"]:
        b = before.get(a["name"])
        if b is None:
            changes.append({"name": a["name"], "verdict": "new", "line": f"{a['name']}: not in {old_name}"})
            continue
        ratio, low, high = median_ratio_interval(np.asarray(b["samples_ms"]), np.asarray(a["samples_ms"]))
        if low > 1 + MIN_EFFECT:
            verdict = "REGRESSION"
        elif high < 1 - MIN_EFFECT:
            verdict = "faster"
        else:
            verdict = "within noise"
        line = (
            f"{a['name']}: median {b['latency']['median_ms']:.2f} -> {a['latency']['median_ms']:.2f} ms "
            f"(x{ratio:.2f}, {CONFIDENCE:.0%} interval {low:.2f}-{high:.2f}): {verdict}"
        )
        change = {"name": a["name"], "ratio": ratio, "interval": [low, high], "verdict": verdict}
        if same_clips and "accuracy" in a and "accuracy" in b:
            delta = 100 * (a["accuracy"] - b["accuracy"])
            change["accuracy_change_pts"] = delta
            if delta < 0:
                change["verdict"] = "REGRESSION"
                line += f"; accuracy {b['accuracy']:.1%} -> {a['accuracy']:.1%} ({delta:+.1f} pt): REGRESSION"
        change["line"] = line
        changes.append(change)
    for name in before.keys() - {a["name"] for a in new["artifacts"]}:
        changes.append({"name": name, "verdict": "gone", "line": f"{name}: in {old_name}, not measured now"})
    regressions = [c["name"] for c in changes if c["verdict"] == "REGRESSION"]
    return {"against": old_name, "old_date": old["machine"].get("date"), "changes": changes, "regressions": regressions}
