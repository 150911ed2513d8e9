"""What ``export``, ``calibrate`` and ``build`` do: from a checkpoint to the artifact to ship."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgefusion.artifact.contract import SHIFT_INPUT
from edgefusion.calibration.gate import Verdict
from edgefusion.commands import load_clips
from edgefusion.data.corpus import Clip
from edgefusion.data.splits import parse_actors, select_actors, speaker_names, split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs, claim
from edgefusion.wording import plural


def _pending(out: Path) -> Path:
    """Where an artifact is written before it has passed its checks (never picked up as *.onnx)."""
    return out.with_name(f".{out.name}.pending")


def _parity_feed(checkpoint: Path, data: Path | None, cfg, cache_dir: Path | None, err: Console):
    from edgefusion.export.parity import clip_feed, synthetic_feed
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


def run_export(
    checkpoint: Path,
    out_path: Path,
    dynamic_batch: bool,
    precision: str,
    opset: int,
    check_trt: bool,
    trt_version: str,
    data: Path | None,
    cache_dir: Path | None,
    err: Console,
    out: Console,
) -> None:
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
    pending = _pending(out_path)
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


def _eval_clips(
    data: Path,
    clips: list[Clip],
    actors: str | None,
    eval_data: Path | None,
    eval_actors: str | None,
    seed: int,
    calm_as_neutral: bool,
) -> tuple[list[Clip], list[Clip]]:
    """(calibration clips, held-out scoring clips), never sharing a speaker (``Clip.speaker``)."""
    if eval_data is not None:
        held = load_clips([eval_data], eval_actors, calm_as_neutral, "--eval-actors")
        calibrated = {c.speaker for c in clips}
        shared = [c for c in held if c.speaker in calibrated]
        if shared:  # the same corpus (DATA itself, or another copy of it): the same people
            raise EdgefusionError(
                f"--eval-data shares actors {','.join(speaker_names(shared))} with calibration; "
                "choose disjoint --actors and --eval-actors"
            )
        return clips, held
    if eval_actors is not None:
        wanted = parse_actors(eval_actors, "--eval-actors") or []
        everything = load_clips([data], None, calm_as_neutral)
        held = select_actors(everything, wanted, str(data), "--eval-actors")
        held_ids = {c.speaker for c in held}
        if actors is None:
            return [c for c in clips if c.speaker not in held_ids], held
        shared = [c for c in clips if c.speaker in held_ids]
        if shared:
            raise EdgefusionError(f"--actors and --eval-actors share {','.join(speaker_names(shared))}")
        return clips, held
    return split_by_actor(clips, None, 0.2, seed, str(data))


def run_calibrate(
    onnx_path: Path,
    data: Path,
    out_path: Path,
    samples: int,
    method: str,
    target: str,
    calib_cache: Path | None,
    trt_version: str,
    max_drop: float,
    actors: str | None,
    eval_data: Path | None,
    eval_actors: str | None,
    seed: int,
    threads: int | None,
    hop: float,
    calm_as_neutral: bool,
    cache_dir: Path | None,
    err: Console,
    out: Console,
) -> None:
    from edgefusion.artifact.graph import is_quantized
    from edgefusion.artifact.metadata import file_sha256, load_onnx, metadata_of, save_onnx, set_metadata
    from edgefusion.calibration.data import WindowFeeds, draw_clips
    from edgefusion.calibration.gate import gate, score_artifact
    from edgefusion.calibration.quantize import METHODS, TARGETS, check_choice, quantize

    check_choice(method, METHODS, "--method")
    check_choice(target, TARGETS, "--target")
    if max_drop < 0:
        raise EdgefusionError(f"--max-drop must be >= 0 points, got {max_drop}")
    if hop <= 0:
        raise EdgefusionError(f"--hop must be positive, got {hop}")
    if threads is not None and threads < 1:
        raise EdgefusionError(f"--threads must be at least 1, got {threads}")
    check_outputs(
        [("--out", out_path), ("--calib-cache", calib_cache)],
        inputs=[("ONNX", onnx_path)],
        input_folders=[d for d in (data, eval_data) if d is not None],
    )
    if calib_cache is not None:  # its TensorRT version, before the work
        from edgefusion.artifact.calibration_cache import cache_header

        cache_header(trt_version)
    model = load_onnx(onnx_path)
    meta = metadata_of(model, onnx_path)
    if is_quantized(model) or meta.precision != "fp32":
        raise EdgefusionError(
            located(onnx_path, f"is already an {meta.precision} artifact; calibrate its float32 parent instead")
        )
    cfg = meta.config
    clips = load_clips([data], actors, calm_as_neutral)
    calib_pool, held = _eval_clips(data, clips, actors, eval_data, eval_actors, seed, calm_as_neutral)
    chosen = draw_clips(calib_pool, samples, seed, str(data))
    store = ClipStore(cfg, cache_dir)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("decoding clips", total=len(chosen) + len(held))
        store.preload(chosen + list(held), lambda n: bar.advance(task, n))
    takes_shift = any(t["name"] == SHIFT_INPUT for t in meta.contract)
    feeds = WindowFeeds(chosen, store, cfg, batch=meta.batch or 1, seed=seed, with_shift=takes_shift)
    if not feeds.has_video:
        err.print(
            "[yellow]warning:[/] the calibration clips have no video: the video path is calibrated on blank "
            "frames; calibrate on a corpus with faces before deploying with a camera",
            markup=True,
        )
    cal_actors = speaker_names(chosen)
    err.print(
        f"calibrating ({method}, {target}) on {plural(len(chosen), 'clip')} of {plural(len(cal_actors), 'actor')} "
        f"{','.join(cal_actors)}"
    )
    with err.status(f"measuring activation ranges ({method})"):
        q = quantize(model, feeds, method, target)
    q_meta = metadata_of(q.model, onnx_path)  # quantize_static keeps metadata_props
    q_meta.precision = "int8"
    pending = _pending(out_path)
    with claim(out_path):  # a second writer to the same --out is refused while this one works
        summary = {
            "method": method,
            "target": target,
            "samples": len(chosen),
            "calibration_actors": cal_actors,
            "parent": onnx_path.name,
            "parent_sha256": file_sha256(onnx_path),
            "kept_float32": len(q.excluded),
        }
        q_meta.extra["calibration"] = summary
        set_metadata(q.model, q_meta)
        save_onnx(q.model, pending)
        try:
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("scoring float32 and int8 on held-out clips", total=2 * len(held))
                fp32 = score_artifact(onnx_path, held, store, hop, threads, lambda n: bar.advance(task, n))
                int8 = score_artifact(pending, held, store, hop, threads, lambda n: bar.advance(task, n), "onnxruntime")
            verdict = gate(fp32, int8, max_drop, held)
            summary |= verdict.to_dict()
            set_metadata(q.model, q_meta)
            save_onnx(q.model, pending)
            _print_gate(verdict, out)
            settle(pending, out_path, verdict)
        finally:
            pending.unlink(missing_ok=True)
    out.print(verdict.line(str(out_path)))
    out.print(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")
    if calib_cache is not None:
        from edgefusion.artifact.calibration_cache import write_calibration_cache

        amax = {name: max(abs(lo), abs(hi)) for name, (lo, hi) in q.ranges.items() if max(abs(lo), abs(hi)) > 0}
        write_calibration_cache(amax, calib_cache, trt_version=trt_version)
        out.print(f"wrote {calib_cache} (TensorRT {trt_version} calibration cache, {len(amax)} tensors)")


def settle(pending: Path, out_path: Path, verdict: Verdict) -> None:
    """Move a gated artifact to ``out_path``, or, rejected, to ``OUT.rejected`` and raise the verdict."""
    if verdict.passed:
        pending.replace(out_path)
        return
    rejected = out_path.with_name(out_path.name + ".rejected")
    pending.replace(rejected)
    raise EdgefusionError(verdict.line(str(out_path)) + f"; kept for inspection as {rejected}")


def _print_gate(verdict, out: Console) -> None:
    from edgefusion.labels import CLASSES

    table = Table(title="accuracy gate: float32 parent vs int8", title_justify="left")
    for col in ("", "accuracy", "macro-F1", *CLASSES):
        table.add_column(col, justify="right")
    for name, s in (("float32", verdict.fp32), ("int8", verdict.candidate)):
        recalls = [f"{s.recall[c]:.0%}" if s.recall.get(c) is not None else "-" for c in CLASSES]
        table.add_row(name, f"{s.accuracy:.1%}", f"{s.macro_f1:.3f}", *recalls)
    out.print(table)


def run_build(
    onnx_path: Path,
    out_path: Path,
    precision: str,
    workspace: int,
    timing_cache: Path | None,
    version_compatible: bool,
    batch: str | None,
    calib_cache: Path | None,
    dla_core: int | None,
    err: Console,
    out: Console,
) -> None:
    from edgefusion.artifact.metadata import read_metadata
    from edgefusion.artifact.sidecar import sidecar_path
    from edgefusion.export.tensorrt_build import build_engine

    if precision not in ("fp32", "fp16", "int8"):
        raise EdgefusionError(f"unknown --precision {precision!r}; choose one of fp32, fp16, int8")
    read_metadata(onnx_path)  # one-line error for a file that is not an edgefusion ONNX
    inputs = [("ONNX", onnx_path)] + ([("--calib-cache", calib_cache)] if calib_cache is not None else [])
    check_outputs([("--out", out_path), ("the engine's sidecar", sidecar_path(out_path))], inputs=inputs)
    profile = None
    if batch is not None:
        try:
            low, opt, high = (int(x) for x in batch.split(","))
        except ValueError:
            raise EdgefusionError(f"--batch {batch!r}: give min,opt,max, e.g. 1,4,8") from None
        if not 1 <= low <= opt <= high:
            raise EdgefusionError(f"--batch {batch!r}: need 1 <= min <= opt <= max")
        profile = (low, opt, high)
    engine = build_engine(
        onnx_path,
        out_path,
        precision,
        workspace_mb=workspace,
        timing_cache=timing_cache,
        version_compatible=version_compatible,
        batch=profile,
        calib_cache=calib_cache,
        dla_core=dla_core,
        console=err,
    )
    sidecar = sidecar_path(engine)
    info = json.loads(sidecar.read_text())
    out.print(
        f"wrote {engine} ({engine.stat().st_size / 1e6:.2f} MB, {precision}, TensorRT {info.get('tensorrt_version')}"
        f" for {info.get('gpu')}) and {sidecar}"
    )
