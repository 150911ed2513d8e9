"""The in-graph log-mel front end against librosa and a plain numpy STFT: speed and max difference.

    .venv/bin/python benchmarks/frontend.py [--data DIR] [--windows 64] [--runs 300] [--threads 2] \
        [--warmup 10] [--json out.json] [--markdown out.md]

Draws --windows real 2 s speech windows deterministically from RAVDESS (every actor), then
times four implementations of the same log-mel on them: LogMel in PyTorch eager, LogMel
alone exported to ONNX and run by ONNX Runtime on the CPU, librosa's melspectrogram +
power_to_db, and a numpy rfft STFT. Batch 1 (one window per call, as the live runtime
does) for all, batch 16 for the two in-graph ones (their speed-up over librosa is per
window). ONNX Runtime runs the graph exported with a dynamic batch axis ("onnxruntime") and,
at batch 1, also the batch-1 graph simplified by onnxsim as `edgefusion export` writes it
("onnxruntime-batch1"); calls are timed round-robin so machine noise lands on all alike. Differences
are max |dB| over all windows against librosa on float64 input (the reference) and
against torch-eager. Judged against the goal: the faster in-graph one at batch 1 >= 5x
faster than librosa at <= 1e-3 dB. --threads caps torch, ONNX Runtime and numpy's BLAS.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Timed round-robin, no implementation's idle threads may busy-wait on the cores the next one
# needs: OpenMP (PyTorch's threads) must sleep when idle, and so must ONNX Runtime's (below).
# Set before torch is imported, when OpenMP reads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import librosa
import numpy as np
import onnxruntime as ort
import soundfile as sf
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from threadpoolctl import threadpool_limits

from edgefusion.config import ModelConfig
from edgefusion.model.frontend import AMIN, FLOAT32_SHARE_OVER, FLOAT32_WORST_DB, PARITY_DB, LogMel, hann_window

CFG = ModelConfig()
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech"
SPEEDUP_GOAL = 5.0  # librosa median / in-graph median, batch 1
TOLERANCE_DB = PARITY_DB  # the project's parity tolerance: "equal output"
GOAL = "in-graph >= 5x faster than librosa at <= 1e-3 dB"  # SPEEDUP_GOAL and TOLERANCE_DB, in words
TABLE_WIDTH = 200  # columns when stdout is not a terminal, so that no figure is cut
NOISY_CV = 0.5  # coefficient of variation above which timings are flagged
BIG_BATCH = 16
SEED = 0
OPSET = 17
IN_GRAPH = ("torch-eager", "onnxruntime", "onnxruntime-batch1")
REFERENCE = "librosa"


@dataclass
class Impl:
    """One implementation at one batch size: ``fn`` maps a prepared input to log-mel ``[(B,) n_mels, frames]``."""

    name: str
    batch: int
    fn: Callable[[Any], Any]
    prepare: Callable[[np.ndarray], Any]  # float32 [B, S] -> what ``fn`` takes (done outside the timing)

    @property
    def label(self) -> str:
        return f"{self.name} (batch {self.batch})"


# --- data ----------------------------------------------------------------------------------


def load_windows(data: Path, n: int) -> np.ndarray:
    """``n`` float32 windows ``[n, window_samples]``: clips spread evenly over the sorted files, random offsets."""
    files = sorted(data.glob("Actor_*/*.wav"))
    if not files:
        sys.exit(f"no RAVDESS speech under {data} (expected Actor_NN/*.wav); pass --data DIR")
    rng = np.random.default_rng(SEED)
    size = CFG.window_samples
    windows = np.zeros((n, size), dtype=np.float32)
    for row, i in enumerate(np.linspace(0, len(files) - 1, n).round().astype(int)):
        y, sr = sf.read(files[i], dtype="float32", always_2d=True)
        if sr != CFG.sample_rate:
            sys.exit(f"{files[i]} is {sr} Hz, expected {CFG.sample_rate} Hz")
        y = y.mean(axis=1)
        start = int(rng.integers(0, max(1, len(y) - size + 1)))
        chunk = y[start : start + size]
        windows[row, : len(chunk)] = chunk
    return windows


# --- implementations -----------------------------------------------------------------------


def librosa_logmel(y: np.ndarray) -> np.ndarray:
    """librosa's log-mel with the parameters LogMel reproduces; ``y`` is ``[S]`` or ``[B, S]``."""
    power = librosa.feature.melspectrogram(
        y=y,
        sr=CFG.sample_rate,
        n_fft=CFG.n_fft,
        hop_length=CFG.hop_length,
        win_length=CFG.n_fft,
        window="hann",
        center=False,
        power=2.0,
        n_mels=CFG.n_mels,
        fmin=CFG.f_min,
        fmax=CFG.f_max,
        htk=False,
        norm="slaney",
    )
    return librosa.power_to_db(power, ref=1.0, amin=AMIN, top_db=CFG.top_db)


def numpy_logmel_fn() -> Callable[[np.ndarray], np.ndarray]:
    """A plain numpy log-mel of one window ``[S]``: framed, Hann-windowed rfft, power, mel MatMul, clamped dB."""
    window = hann_window(CFG.n_fft).astype(np.float32)
    mel = librosa.filters.mel(
        sr=CFG.sample_rate,
        n_fft=CFG.n_fft,
        n_mels=CFG.n_mels,
        fmin=CFG.f_min,
        fmax=CFG.f_max,
        htk=False,
        norm="slaney",
    ).astype(np.float32)

    def logmel(y: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(y, CFG.n_fft)[:: CFG.hop_length]  # [frames, n_fft]
        spec = np.fft.rfft(frames * window, axis=-1)
        power = spec.real**2 + spec.imag**2  # [frames, bins]
        db = 10.0 * np.log10(np.maximum(AMIN, mel @ power.T))  # [n_mels, frames]
        return np.maximum(db, db.max() - CFG.top_db)

    return logmel


def make_logmel() -> LogMel:
    return LogMel(CFG.sample_rate, CFG.n_fft, CFG.hop_length, CFG.n_mels, CFG.f_min, CFG.f_max, CFG.top_db).eval()


def onnx_session(module: LogMel, threads: int, directory: Path, dynamic: bool = True) -> ort.InferenceSession:
    """``module`` exported alone (TorchScript exporter, opset 17) and opened on the CPU.

    ``dynamic``: a dynamic batch axis, as exported; otherwise batch 1 simplified by onnxsim, the
    form `edgefusion export` gives a batch-1 graph (shape arithmetic folded into constants).
    """
    path = directory / ("logmel.onnx" if dynamic else "logmel.batch1.onnx")
    example = torch.zeros(2 if dynamic else 1, CFG.window_samples)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # deprecation and tracer warnings of the TorchScript exporter
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["audio"],
            output_names=["logmel"],
            opset_version=OPSET,
            dynamic_axes={"audio": {0: "batch"}, "logmel": {0: "batch"}} if dynamic else None,
            do_constant_folding=True,
            dynamo=False,
        )
    if not dynamic:
        import onnx
        import onnxsim

        simplified, ok = onnxsim.simplify(onnx.load(str(path)))
        if not ok:
            sys.exit("onnxsim could not simplify the batch-1 LogMel graph")
        onnx.save(simplified, str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def build_impls(session: ort.InferenceSession, batch1: ort.InferenceSession) -> list[Impl]:
    """``session``: the dynamic-batch graph; ``batch1``: the batch-1 graph as export writes it."""
    module = make_logmel()
    numpy_logmel = numpy_logmel_fn()

    def runner(s: ort.InferenceSession) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: s.run(None, {"audio": x})[0]

    def first(x: np.ndarray) -> np.ndarray:
        return x[0]

    impls = [Impl("onnxruntime-batch1", 1, runner(batch1), np.ascontiguousarray)]
    for batch in (1, BIG_BATCH):
        impls += [
            Impl("torch-eager", batch, module, torch.from_numpy),
            Impl("onnxruntime", batch, runner(session), np.ascontiguousarray),
        ]
    impls += [Impl("librosa", 1, librosa_logmel, first), Impl("numpy-stft", 1, numpy_logmel, first)]
    return sorted(impls, key=lambda i: (i.batch, i.name not in IN_GRAPH, i.name))


def as_batch(impl: Impl, out: Any) -> np.ndarray:
    out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    return out if impl.batch > 1 or out.ndim == 3 else out[None]


# --- measuring -----------------------------------------------------------------------------


def batches(windows: np.ndarray, batch: int) -> list[np.ndarray]:
    """Consecutive ``batch``-window slices covering every window, the last one wrapping to the start."""
    starts = range(0, len(windows), batch)
    return [np.take(windows, np.arange(s, s + batch), axis=0, mode="wrap") for s in starts]


def outputs(impl: Impl, windows: np.ndarray) -> np.ndarray:
    """Log-mel of every window ``[N, n_mels, frames]`` in float64, one call per batch."""
    parts = [as_batch(impl, impl.fn(impl.prepare(b))) for b in batches(windows, impl.batch)]
    return np.concatenate(parts)[: len(windows)].astype(np.float64)


def time_round_robin(
    impls: list[Impl], windows: np.ndarray, runs: int, warmup: int, progress: Callable[[], None]
) -> dict[str, np.ndarray]:
    """Milliseconds per call ``[runs]`` per implementation: ``warmup`` untimed calls each, then round-robin."""
    feeds = {i.label: [i.prepare(b) for b in batches(windows, i.batch)] for i in impls}
    for impl in impls:
        feed = feeds[impl.label]
        for k in range(warmup):
            impl.fn(feed[k % len(feed)])
    ns = {i.label: np.zeros(runs, dtype=np.int64) for i in impls}
    for k in range(runs):
        for impl in impls:
            feed = feeds[impl.label]
            x = feed[k % len(feed)]
            t0 = time.perf_counter_ns()
            impl.fn(x)
            ns[impl.label][k] = time.perf_counter_ns() - t0
        progress()
    return {label: t / 1e6 for label, t in ns.items()}


def summarize(ms: np.ndarray) -> dict[str, float]:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "median_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "cv": float(ms.std() / ms.mean()),
    }


# --- reporting -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def make_rows(impls: list[Impl], ms: dict[str, np.ndarray], outs: dict[str, np.ndarray], ref: np.ndarray) -> list:
    librosa_ms = float(np.median(ms[f"{REFERENCE} (batch 1)"]))
    eager = outs["torch-eager (batch 1)"]
    rows = []
    for impl in impls:
        stats = summarize(ms[impl.label])
        per_window = stats["median_ms"] / impl.batch
        per_window_diff = np.abs(outs[impl.label] - ref).max(axis=(1, 2))
        diff = float(per_window_diff.max())
        rows.append(
            {
                "implementation": impl.name,
                "batch": impl.batch,
                **stats,
                "median_ms_per_window": per_window,
                "speedup_vs_librosa": librosa_ms / per_window,
                "max_diff_db_vs_librosa_f64": diff,
                "max_diff_db_vs_torch_eager": float(np.abs(outs[impl.label] - eager).max()),
                "windows_over_tolerance": int((per_window_diff > TOLERANCE_DB).sum()),
                "windows": len(per_window_diff),
                "equal_output": diff <= TOLERANCE_DB if impl.name in IN_GRAPH else None,
            }
        )
    return rows


def verdict(rows: list[dict[str, Any]]) -> tuple[bool, str]:
    """The goal line: judged on the faster in-graph implementation at batch 1, every window within the bound.

    A second sentence says how many windows were past the bound and whether the float32
    criterion the parity tests hold real speech to (``edgefusion.model.frontend``: the bound on
    all but a share of windows, a looser one on all) was met; the goal is not judged on it.
    """
    in_graph = {r["implementation"]: r for r in rows if r["implementation"] in IN_GRAPH and r["batch"] == 1}
    judged = min(in_graph.values(), key=lambda r: r["median_ms"])
    ratios = ", ".join(f"{name} {r['speedup_vs_librosa']:.2f}x" for name, r in in_graph.items())
    speedup, diff = judged["speedup_vs_librosa"], judged["max_diff_db_vs_librosa_f64"]
    misses = [f"{speedup:.2f}x < {SPEEDUP_GOAL:g}x"] if speedup < SPEEDUP_GOAL else []
    misses += [f"max diff {diff:.2e} dB > {TOLERANCE_DB:.0e} dB"] if not judged["equal_output"] else []
    met = not misses
    detail = "; ".join(misses) if misses else f"{speedup:.2f}x, max diff {diff:.2e} dB"
    over, windows = judged["windows_over_tolerance"], judged["windows"]
    float32_ok = diff <= FLOAT32_WORST_DB and over <= FLOAT32_SHARE_OVER * windows
    line = (
        f"goal ({GOAL}): "
        f"{'met' if met else 'MISSED'} (judged: {judged['implementation']}, the faster in-graph one at batch 1: "
        f"{detail}; batch-1 ratios: {ratios}). {over} of {windows} windows past {TOLERANCE_DB:.0e} dB; "
        f"the tests' float32 criterion (that bound on {1 - FLOAT32_SHARE_OVER:.0%} of windows, "
        f"{FLOAT32_WORST_DB:.0e} dB on all) {'met' if float32_ok else 'MISSED'}, not what the goal is judged on"
    )
    return met, line


COLUMNS = (
    ("implementation", "implementation", "{}"),
    ("batch", "batch", "{}"),
    ("median ms", "median_ms", "{:.3f}"),
    ("p90 ms", "p90_ms", "{:.3f}"),
    ("p99 ms", "p99_ms", "{:.3f}"),
    ("ms/window", "median_ms_per_window", "{:.3f}"),
    ("librosa / this, per window", "speedup_vs_librosa", "{:.2f}x"),
    ("max dB vs librosa f64", "max_diff_db_vs_librosa_f64", "{:.2e}"),
    ("max dB vs torch-eager", "max_diff_db_vs_torch_eager", "{:.2e}"),
    ("<= 1e-3 dB", "equal_output", "{}"),
)


def cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return fmt.format(value)


def cells(row: dict[str, Any]) -> list[str]:
    return [cell(row[key], fmt) for _, key, fmt in COLUMNS]


def header(args: argparse.Namespace, n_windows: int, mach: dict[str, Any]) -> str:
    return (
        f"{n_windows} real 2 s windows, {args.threads} thread(s), {args.runs} timed calls each round-robin after "
        f"{args.warmup} warm-up; {mach['cpu']} ({mach['cpu_count']} CPUs), torch {mach['torch']}, "
        f"onnxruntime {mach['onnxruntime']}, librosa {mach['librosa']}, numpy {mach['numpy']}, {mach['date']}"
    )


def rich_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, key, _ in COLUMNS:
        table.add_column(name, justify="left" if key == "implementation" else "right")
    for row in rows:
        table.add_row(*cells(row))
    return table


def markdown(rows: list[dict[str, Any]], title: str, notes: list[str]) -> str:
    lines = [title, "", "| " + " | ".join(n for n, _, _ in COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join([*lines, "", *notes]) + "\n"


def bad_args(args: argparse.Namespace) -> str | None:
    """The first mistake in the arguments, in one line, before anything is measured; None if none."""
    if not args.data.is_dir():
        return f"RAVDESS speech folder not found: {args.data} (pass --data DIR)"
    for name in ("windows", "runs", "threads"):
        if getattr(args, name) < 1:
            return f"--{name} must be at least 1, got {getattr(args, name)}"
    if args.warmup < 0:
        return f"--warmup cannot be negative, got {args.warmup}"
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):
            return f"{option} {path}: not a file in an existing folder"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RAVDESS speech folder (Actor_NN/*.wav)")
    ap.add_argument("--windows", type=int, default=64)
    ap.add_argument("--runs", type=int, default=300, help="timed calls per implementation")
    ap.add_argument("--warmup", type=int, default=10, help="untimed calls per implementation first")
    ap.add_argument("--threads", type=int, default=2, help="torch, ONNX Runtime intra-op and BLAS threads")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown here")
    args = ap.parse_args()
    problem = bad_args(args)
    if problem:
        sys.exit(f"error: {problem}")
    torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    windows = load_windows(args.data, args.windows)
    ref = np.stack([librosa_logmel(w.astype(np.float64)) for w in windows])

    with (
        tempfile.TemporaryDirectory() as tmp,
        threadpool_limits(args.threads),
        torch.inference_mode(),
    ):
        with console.status("exporting LogMel to ONNX"):
            dynamic = onnx_session(make_logmel(), args.threads, Path(tmp))
            impls = build_impls(dynamic, onnx_session(make_logmel(), args.threads, Path(tmp), dynamic=False))
        outs = {i.label: outputs(i, windows) for i in impls}
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"timing {len(impls)} implementations round-robin", total=args.runs)
            ms = time_round_robin(impls, windows, args.runs, args.warmup, lambda: bar.advance(task))

    rows = make_rows(impls, ms, outs, ref)
    mach = machine()
    title = header(args, len(windows), mach)
    met, goal = verdict(rows)
    notes = [
        f"warning: {r['implementation']} (batch {r['batch']}) timings are noisy (CV {r['cv']:.2f} > {NOISY_CV:g})"
        for r in rows
        if r["cv"] > NOISY_CV
    ]
    notes.append(goal)
    out = Console()
    if not out.is_terminal:
        out = Console(width=TABLE_WIDTH)
    out.print(rich_table(rows, title))
    for note in notes:
        out.print(note, markup=False, highlight=False, soft_wrap=True)
    if args.json:
        report = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": mach, "rows": rows}
        report |= {"goal": {"met": met, "line": goal}, "warnings": notes[:-1]}
        args.json.write_text(json.dumps(report, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(rows, title, notes))


if __name__ == "__main__":
    main()
