"""``edgefusion bench ARTIFACT --streams 1,2,4 [--server grpc://HOST:PORT]``: how many real-time
streams one server takes, beside the same streams as separate local processes.

The measuring lives in ``edgefusion.bench.streams``; this is the command around it: the checks,
the rounds, the table and the reports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgefusion.atomic import write_text_atomic
from edgefusion.bench.machine import describe_machine
from edgefusion.bench.streams import StreamsSettings, largest_within, run_round
from edgefusion.config import LIVE_HOP
from edgefusion.data.audio import duration_seconds
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs
from edgefusion.runtime.remote_runner import RemoteRunner, check_server

SIDES = ("server", "local")


@dataclass(frozen=True)
class StreamsBenchSettings:
    """What ``bench --streams`` measures: one artifact, rounds of N streams, where the reports go."""

    artifacts: tuple[Path, ...]  # one: the artifact served (its contract), and the local processes' model
    streams: tuple[int, ...]
    audio: str | None  # file://clip.wav
    server: str | None = None  # grpc://HOST:PORT; None: local processes only
    model_name: str | None = None
    local: bool = True  # also each round as N local processes, for the ratio
    seconds: float | None = None  # per round [default: the clip's length]
    hop: float = LIVE_HOP
    threads: int | None = None  # local processes' ONNX Runtime threads [default: 1]
    json_path: Path | None = None
    markdown_path: Path | None = None


def check(s: StreamsBenchSettings) -> tuple[Path, Path]:
    """The artifact and the clip, or a one-line error for what cannot work."""
    if not s.streams:
        raise EdgefusionError("give --streams, e.g. --streams 1,2,4,8")
    if len(s.artifacts) != 1:
        raise EdgefusionError(f"--streams measures one artifact (the one served), got {len(s.artifacts)}")
    artifact = s.artifacts[0]
    if not artifact.is_file():
        raise EdgefusionError(located(artifact, "no such file"))
    if any(n < 1 for n in s.streams):
        raise EdgefusionError(f"--streams {','.join(map(str, s.streams))}: each count must be at least 1")
    if not s.audio or not s.audio.startswith("file://"):
        raise EdgefusionError("--streams replays a clip in every stream: give --audio file://clip.wav")
    if s.server is None and not s.local:
        raise EdgefusionError("--no-local without --server leaves nothing to measure")
    clip = Path(s.audio.removeprefix("file://"))
    check_outputs([("--json", s.json_path), ("--markdown", s.markdown_path)], inputs=[("ARTIFACT", artifact)])
    return artifact, clip


def run(s: StreamsBenchSettings, err: Console, out: Console) -> dict[str, Any]:
    """Every round to the server and as local processes; print the table, write the reports."""
    artifact, clip = check(s)
    server = check_server(s.server, None, False, 0.0)
    length = duration_seconds(clip)  # from the header; a missing or unreadable clip is a one-line error
    seconds = s.seconds or length
    if seconds > length + 1e-6:
        raise EdgefusionError(located(clip, f"is {length:.1f} s long: --stream-seconds {seconds:g} would outrun it"))
    sides = []
    if server is not None:
        with RemoteRunner(artifact, server, s.model_name) as probe:  # reachable, the model there, the same contract
            err.print(f"server: {probe.description}, batches up to {probe.max_batch}")
        sides.append(("server", StreamsSettings(artifact, clip, seconds, s.hop, server, s.model_name)))
    if s.local:
        sides.append(("local", StreamsSettings(artifact, clip, seconds, s.hop, threads=s.threads or 1)))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    for n in s.streams:
        for name, settings in sides:
            where = "to the server" if name == "server" else "as local processes"
            with err.status(f"{n} {'streams' if n > 1 else 'stream'} {where}, {seconds:g} s in real time"):
                rows[name].append(run_round(settings, n))
    report = {
        "artifact": str(artifact),
        "clip": str(clip),
        "seconds": seconds,
        "hop_s": s.hop,
        "server": str(server) if server else None,
        "machine": describe_machine(),
        "cpu_count": os.cpu_count(),
        "rounds": rows,
        "largest_within_hop": {name: largest_within(r, s.hop) for name, r in rows.items()},
    }
    out.print(table(report))
    for name, largest in report["largest_within_hop"].items():
        said = f"{largest} streams" if largest else "none"
        out.print(f"{name}: the most streams with p99 under the {s.hop * 1e3:.0f} ms hop, none skipped or lost: {said}")
    if s.json_path is not None:
        write_text_atomic(s.json_path, json.dumps(report, indent=1) + "\n")
        err.print(f"wrote {s.json_path}")
    if s.markdown_path is not None:
        write_text_atomic(s.markdown_path, markdown(report))
        err.print(f"wrote {s.markdown_path}")
    return report


# (key, title, decimals) per side: only a server forms batches and loses hops
COLUMNS = {
    "server": (("p50_ms", "server p50", 1), ("p99_ms", "p99", 1), ("windows_per_s", "win/s", 1),
               ("mean_batch", "batch", 2), ("server_ms_per_window", "ms/win", 2), ("skipped", "skip", 0),
               ("lost", "lost", 0)),
    "local": (("p50_ms", "local p50", 1), ("p99_ms", "p99", 1), ("windows_per_s", "win/s", 1), ("skipped", "skip", 0)),
}  # fmt: skip


def _cells(row: dict[str, Any], side: str) -> list[str]:
    return [f"{row[k]:.{d}f}" if d else str(row[k]) for k, _, d in COLUMNS[side]]


def _header(side: str) -> list[str]:
    return [title for _, title, _ in COLUMNS[side]]


def _lines(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    rounds = report["rounds"]
    header = ["streams"]
    for side in SIDES:
        if side in rounds:
            header += _header(side)
    both = "server" in rounds and "local" in rounds
    if both:
        header.append("p99 local/server")  # above 1: the server's streams decide sooner
    body = []
    counts = [r["streams"] for r in next(iter(rounds.values()))]
    for i, n in enumerate(counts):
        line = [str(n)]
        for side in SIDES:
            if side in rounds:
                line += _cells(rounds[side][i], side)
        if both:
            line.append(f"{rounds['local'][i]['p99_ms'] / rounds['server'][i]['p99_ms']:.2f}")
        body.append(line)
    return header, body


def table(report: dict[str, Any]) -> Table:
    header, body = _lines(report)
    t = Table(
        title=f"decision latency per hop (ms), {report['hop_s'] * 1e3:.0f} ms hop, {report['seconds']:g} s a round",
        caption="win/s: windows decided per second; batch: mean windows per server execution; ms/win: the "
        "server's execution time per window; skip: hops overrun; lost: hops the server did not answer",
    )
    for h in header:
        t.add_column(h, justify="right")
    for line in body:
        t.add_row(*line)
    return t


def markdown(report: dict[str, Any]) -> str:
    header, body = _lines(report)
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    lines += ["| " + " | ".join(line) + " |" for line in body]
    return "\n".join(lines) + "\n"
