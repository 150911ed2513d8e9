"""``edgefusion calibrate``: an INT8 Q/DQ ONNX from real clips, behind the accuracy gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgefusion.artifact.contract import SHIFT_INPUT
from edgefusion.calibration.gate import Verdict
from edgefusion.data.corpora import load_clips
from edgefusion.data.corpus import Clip
from edgefusion.data.splits import parse_actors, select_actors, speaker_names, split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.doctor.stack import check_tensorrt
from edgefusion.errors import EdgefusionError, located
from edgefusion.outputs import check_outputs, claim, pending_path
from edgefusion.wording import plural


@dataclass(frozen=True)
class CalibrateSettings:
    """What ``edgefusion calibrate`` is asked to quantize and how."""

    onnx_path: Path
    data: Path
    out_path: Path
    samples: int | None  # None: DEFAULT_SAMPLES, or every calibration clip when DATA has fewer
    method: str
    target: str | None  # None: tensorrt where TensorRT is installed, else cpu
    calib_cache: Path | None
    trt_version: str
    max_drop: float
    actors: str | None
    eval_data: Path | None
    eval_actors: str | None
    seed: int
    threads: int | None
    hop: float
    calm_as_neutral: bool
    cache_dir: Path | None


def run(s: CalibrateSettings, err: Console, out: Console) -> None:
    """Quantize ``s.onnx_path`` to INT8 from clips of ``s.data``; keep it only if the accuracy gate passes."""
    onnx_path, data, out_path, samples, method = s.onnx_path, s.data, s.out_path, s.samples, s.method
    target, calib_cache, trt_version, max_drop = s.target, s.calib_cache, s.trt_version, s.max_drop
    actors, eval_data, eval_actors, seed, threads = s.actors, s.eval_data, s.eval_actors, s.seed, s.threads
    hop, calm_as_neutral, cache_dir = s.hop, s.calm_as_neutral, s.cache_dir
    from edgefusion.artifact.graph import is_quantized
    from edgefusion.artifact.metadata import load_onnx, metadata_of, save_onnx, set_metadata
    from edgefusion.calibration.data import DEFAULT_SAMPLES, WindowFeeds, draw_clips
    from edgefusion.calibration.gate import gate, score_artifact
    from edgefusion.calibration.quantize import METHODS, TARGETS, check_choice, quantize
    from edgefusion.checksum import file_sha256

    check_choice(method, METHODS, "--method")
    if target is None:  # what this machine would run the graph with
        target = "tensorrt" if check_tensorrt()[0].ok else "cpu"
        why = "TensorRT is installed here" if target == "tensorrt" else "no TensorRT here (see `edgefusion doctor`)"
        err.print(f"--target {target}: {why}; give --target to choose")
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
    if samples is None:
        samples = min(DEFAULT_SAMPLES, len(calib_pool))
        if samples < DEFAULT_SAMPLES:
            note = f"every calibration clip {data} offers (fewer than the default {DEFAULT_SAMPLES})"
            err.print(f"--samples {samples}: {note}")
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
    pending = pending_path(out_path)
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
