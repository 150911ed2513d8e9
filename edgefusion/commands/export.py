"""``edgefusion export``: a checkpoint to a checked ONNX, parity with PyTorch enforced."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgefusion.data.corpora import load_clips
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs, claim, pending_path


@dataclass(frozen=True)
class ExportSettings:
    """What ``edgefusion export`` is asked to write."""

    checkpoint: Path
    out_path: Path
    dynamic_batch: bool
    precision: str
    opset: int
    check_trt: bool
    trt_version: str
    data: Path | None
    cache_dir: Path | None


def run(s: ExportSettings, err: Console, out: Console) -> None:
    """Trace ``s.checkpoint`` to ONNX; the file appears under ``s.out_path`` only once parity with PyTorch holds."""
    checkpoint, out_path, dynamic_batch, precision = s.checkpoint, s.out_path, s.dynamic_batch, s.precision
    opset, check_trt, trt_version, data, cache_dir = s.opset, s.check_trt, s.trt_version, s.data, s.cache_dir
    from edgefusion.artifact.graph import op_counts
    from edgefusion.artifact.metadata import load_onnx
    from edgefusion.export.parity import FP16_RELATIVE_TOLERANCE, FP32_RELATIVE_TOLERANCE, compare
    from edgefusion.export.to_onnx import export_checkpoint
    from edgefusion.export.trt_support import forbidden_ops
    from edgefusion.runtime.runner import open_runner

    if precision not in ("fp32", "fp16"):
        raise EdgefusionError(f"--precision {precision!r}: export writes fp32 or fp16 (INT8 comes from `calibrate`)")
    if check_trt:  # fail on a bad version before the work
        from edgefusion.export.trt_support import normalize_version

        normalize_version(trt_version)
    check_outputs([("--out", out_path)], inputs=[("CHECKPOINT", checkpoint)], input_folders=[d for d in [data] if d])
    pending = pending_path(out_path)
    with claim(out_path):  # a second writer to the same --out is refused while this one works
        try:
            result = export_checkpoint(checkpoint, pending, dynamic_batch, precision, opset, err)
            graph = load_onnx(pending)
            bad = forbidden_ops(graph)
            if bad:
                problem = f"graph holds {', '.join(bad)}, which TensorRT 10.3 cannot import"
                raise EdgefusionError(located(out_path, problem))
            feed, source = _parity_feed(checkpoint, data, result.meta.config, cache_dir, err)
            with (
                open_runner(pending, "onnxruntime", threads=os.cpu_count()) as artifact,
                open_runner(checkpoint) as reference,
            ):
                parity = compare(artifact, reference, feed, source)
            worst = ", ".join(f"{k} {v:.2e}" for k, v in parity.max_abs.items())
            out.print(
                f"parity, ONNX Runtime vs PyTorch on {parity.windows} windows ({source}): max |diff| {worst}; "
                f"same top-1 class in {parity.agreement:.1%}"
            )
            limit, what = FP32_RELATIVE_TOLERANCE, "ONNX Runtime"
            if precision == "fp16":
                limit, what = FP16_RELATIVE_TOLERANCE, "float16"
            if parity.relative > limit:
                raise EdgefusionError(
                    located(
                        out_path,
                        f"{what} differs from PyTorch by {parity.relative:.2e} of the largest logit (limit {limit:g})",
                    )
                )
            pending.replace(out_path)
        finally:
            pending.unlink(missing_ok=True)
    ops = op_counts(graph)
    batch = "dynamic" if dynamic_batch else "1"
    out.print(
        f"wrote {out_path} ({precision}, opset {opset}, batch {batch}, {result.nodes} nodes, "
        f"{out_path.stat().st_size / 1e6:.2f} MB{'' if result.simplified else ', NOT simplified'})"
    )
    out.print("ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    if check_trt:
        _check_trt(graph, trt_version, out)


def _parity_feed(checkpoint: Path, data: Path | None, cfg, cache_dir: Path | None, err: Console):
    from edgefusion.artifact.contract import synthetic_feed
    from edgefusion.export.parity import clip_feed
    from edgefusion.model.checkpoint import read_checkpoint

    datas = [data] if data is not None else []
    if data is None:
        recorded = read_checkpoint(checkpoint).get("extra", {}).get("train", {}).get("data")
        if recorded and Path(recorded).is_dir():
            datas = [Path(recorded)]
        elif recorded:  # trained on several corpora: their folders joined like $PATH
            folders = [Path(p) for p in str(recorded).split(os.pathsep)]
            datas = folders if all(p.is_dir() for p in folders) else []
    if not datas:
        err.print("parity: no corpus given (--data) or recorded in the checkpoint; using synthetic harmonic tones")
        return synthetic_feed(cfg), "synthetic harmonic tones and random crops"
    clips = load_clips(datas, None, False)
    where = ", ".join(map(str, datas))
    return clip_feed(clips, ClipStore(cfg, cache_dir), cfg), f"windows of {min(16, len(clips))} clips of {where}"


def _check_trt(graph, version: str, out: Console) -> None:
    from edgefusion.export.trt_support import TRT_VERSIONS, check_graph, normalize_version, op_table

    asked = normalize_version(version)
    table = Table(title=f"TensorRT ONNX-parser support of the graph's ops (asked: {asked})", title_justify="left")
    for col in ("op", "count", *TRT_VERSIONS, "notes"):
        table.add_column(col, overflow="fold")
    for row in op_table(graph):
        table.add_row(row["op"], str(row["count"]), *(str(row[v]) for v in TRT_VERSIONS), str(row["notes"]))
    out.print(table)
    unsupported = [s for s in check_graph(graph, asked) if not s.ok]
    if unsupported:
        names = ", ".join(f"{s.op} ({s.status})" for s in unsupported)
        raise EdgefusionError(f"TensorRT {asked} cannot import: {names}")
    out.print(f"every op is supported by TensorRT {asked}'s ONNX parser")
