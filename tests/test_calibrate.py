"""`edgefusion calibrate`: Q/DQ INT8 from real clips, the accuracy gate, the TensorRT calibration cache."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgefusion.artifact.calibration_cache import read_calibration_cache
from edgefusion.artifact.graph import fusion_nodes, keep_fp32_nodes
from edgefusion.artifact.metadata import read_metadata
from edgefusion.calibration.data import WindowFeeds, draw_clips
from edgefusion.calibration.gate import gate
from edgefusion.commands.calibrate import settle
from edgefusion.config import ModelConfig
from edgefusion.data.corpus import scan_corpus
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError
from edgefusion.metrics import score
from edgefusion.runtime.runner import open_runner
from tests.conftest import cli, feed, one_line_error


@pytest.fixture(scope="module")
def parent(exported_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calibrate") / "model.onnx"  # calibrations are written beside it
    shutil.copyfile(exported_onnx, out)
    return out


@pytest.fixture(scope="module")
def calibrated(parent: Path, av_corpus: Path) -> dict:
    work = parent.parent
    results = {}
    for target in ("tensorrt", "cpu"):
        out = work / f"model.{target}.int8.onnx"
        proc = cli(
            "calibrate", parent, av_corpus, "-o", out, "--target", target, "--method", "minmax",
            "--samples", "8", "--actors", "1001,1002", "--eval-actors", "1003", "--max-drop", "100",
            "--calib-cache", work / f"{target}.calib", cache=work,
        )  # fmt: skip
        results[target] = (out, proc)
    return results


def quantized_inputs(model: onnx.ModelProto) -> dict[str, str]:
    """node name -> op type, for nodes with a DequantizeLinear output among their inputs."""
    dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name: n.op_type for n in model.graph.node if dq.intersection(n.input)}


def test_tensorrt_target_is_symmetric_qdq_on_conv_gemm_matmul(calibrated: dict, parent: Path) -> None:
    out, proc = calibrated["tensorrt"]
    model = onnx.load(str(out))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    # Q/DQ pairs sit on the inputs of Conv, Gemm and MatMul (other consumers of those tensors share
    # them); the Gemms and MatMuls of this network are all in the fusion, which stays float32
    assert "Conv" in set(quantized_inputs(model).values())
    assert not set(quantized_inputs(model)) & set(fusion_nodes(onnx.load(str(parent))))
    q_inputs = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    consumers = {n.op_type for n in onnx.load(str(parent)).graph.node if q_inputs.intersection(n.input)}
    assert consumers & {"Conv", "Gemm", "MatMul"} and not consumers - {
        "Conv",
        "Gemm",
        "MatMul",
        "Add",
        "Clip",
        "Mul",
        "Reshape",
        "Transpose",
        "Slice",
        "Div",
        "Split",
    }
    per_channel = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and inits.get(n.input[1]) is not None]
    assert any(inits[n.input[1]].size > 1 for n in per_channel)  # per-channel weight scales
    untouched = set(keep_fp32_nodes(onnx.load(str(parent))))
    assert not untouched & set(quantized_inputs(model)), "front end, mask or softmax was quantized"
    assert "accepted" in proc.stdout and "held-out clips of actors 1003" in proc.stdout


def test_cpu_target_uses_unsigned_activations(calibrated: dict) -> None:
    model = onnx.load(str(calibrated["cpu"][0]))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dtypes = Counter(inits[n.input[2]].dtype for n in model.graph.node if n.op_type == "QuantizeLinear")
    assert dtypes[np.dtype(np.uint8)] > 0


def test_summary_in_metadata_and_int8_close_to_fp32(calibrated: dict, parent: Path) -> None:
    out, _ = calibrated["tensorrt"]
    meta = read_metadata(out)
    cal = meta.extra["calibration"]
    assert meta.precision == "int8"
    assert cal["method"] == "minmax" and cal["samples"] == 8 and cal["calibration_actors"] == ["1001", "1002"]
    assert cal["eval_actors"] == ["1003"] and cal["eval_clips"] == 6 and cal["passed"] is True
    assert set(cal["fp32"]) == {"accuracy", "macro_f1"} and "recall_change" in cal
    x = feed(4, seed=5)
    with open_runner(out) as int8, open_runner(parent) as fp32:
        a, b = int8.infer(x)["logits"], fp32.infer(x)["logits"]
    assert np.abs(a - b).max() < 0.25 * np.abs(b).max() + 0.05  # quantized, yet the same function


def test_calibration_cache_holds_the_measured_scales(calibrated: dict, parent: Path) -> None:
    header, scales = read_calibration_cache(parent.parent / "cpu.calib")
    assert header.startswith("TRT-") and header.endswith("EntropyCalibration2")
    tensors = {o for n in onnx.load(str(parent)).graph.node for o in n.output} | {"audio", "video", "present"}
    assert scales and set(scales) <= tensors
    assert all(s > 0 and np.isfinite(s) for s in scales.values())


@pytest.mark.parametrize(("method", "target"), [("minmax", "cpu"), ("entropy", "tensorrt")])
def test_ranges_measured_again_are_those_quantize_static_kept(
    parent: Path, av_corpus: Path, method: str, target: str
) -> None:
    """The fallback for an ONNX Runtime without the calibration cache (1.23, the last for Python 3.10)."""
    from edgefusion.calibration import quantize as q

    if not q._writes_calibration_cache():
        pytest.skip("this ONNX Runtime keeps its ranges to itself: nothing to hold the fallback to")
    cfg = ModelConfig()
    clips = draw_clips(scan_corpus(av_corpus), 6, seed=0)
    feeds = WindowFeeds(clips, ClipStore(cfg), cfg, with_shift=True)
    kept = q.quantize(onnx.load(str(parent)), feeds, method, target).ranges
    ops = list(q.TENSORRT_OPS) if target == "tensorrt" else q.CPU_OPS
    with tempfile.TemporaryDirectory() as tmp:
        again = q.measure_ranges(parent, feeds, method, ops, Path(tmp))
    assert len(kept) > 20 and set(again) == set(kept)
    for name, (lo, hi) in kept.items():
        assert again[name] == pytest.approx((lo, hi), rel=1e-6, abs=1e-9), name


def test_gate_rejects_a_drop_beyond_the_limit() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5] * 5)
    fp32 = score(labels, labels)
    worse = labels.copy()
    worse[:2] = (worse[:2] + 1) % 6  # 2 of 30 wrong: 6.7 points
    verdict = gate(fp32, score(labels, worse), 1.0, [])
    assert not verdict.passed and round(verdict.drop, 1) == 6.7 and "REJECTED" in verdict.line("m.int8.onnx")
    assert gate(fp32, score(labels, worse), 10.0, []).passed


def test_a_rejected_artifact_is_moved_out_of_the_way(tmp_path: Path) -> None:
    labels = np.array([0, 1, 2, 3, 4, 5] * 5)
    worse = labels.copy()
    worse[:2] = (worse[:2] + 1) % 6
    out, pending = tmp_path / "m.int8.onnx", tmp_path / ".m.int8.onnx.pending"
    pending.write_bytes(b"int8 graph")
    with pytest.raises(EdgefusionError, match=r"REJECTED.*kept for inspection as .*m\.int8\.onnx\.rejected"):
        settle(pending, out, gate(score(labels, labels), score(labels, worse), 1.0, []))
    assert not out.exists() and not pending.exists()
    assert (tmp_path / "m.int8.onnx.rejected").read_bytes() == b"int8 graph"
    pending.write_bytes(b"int8 graph")
    settle(pending, out, gate(score(labels, labels), score(labels, labels), 1.0, []))
    assert out.read_bytes() == b"int8 graph" and not pending.exists()


def test_draw_clips_spreads_over_classes_and_actors(av_corpus: Path) -> None:
    clips = scan_corpus(av_corpus)
    chosen = draw_clips(clips, 12, seed=0)
    assert len({id(c) for c in chosen}) == 12
    assert len({c.label for c in chosen}) == 6 and len({c.actor for c in chosen}) == 3
    feeds = WindowFeeds(chosen[:3], ClipStore(ModelConfig()), ModelConfig(), batch=2)
    assert len(feeds) == 2 and feeds.has_video
    batches = [feeds.get_next(), feeds.get_next(), feeds.get_next()]
    assert batches[2] is None and batches[0]["video"].shape == (2, 4, 112, 112, 3)


def test_calibrate_bad_inputs(parent: Path, av_corpus: Path, calibrated: dict, tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(parent))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    one_line_error(cli("calibrate", bare, av_corpus, check=False), "bare.onnx", "no edgefusion metadata")
    partial = onnx.load(str(parent))
    keep = [p for p in partial.metadata_props if p.key != "edgefusion.contract"]
    del partial.metadata_props[:]
    partial.metadata_props.extend(keep)
    onnx.save(partial, str(tmp_path / "partial.onnx"))
    one_line_error(cli("calibrate", tmp_path / "partial.onnx", av_corpus, check=False), "lacks edgefusion.contract")
    one_line_error(cli("calibrate", parent, av_corpus, "--samples", "500", check=False), "fewer than the 500")
    one_line_error(cli("calibrate", parent, av_corpus, "--method", "kl", check=False), "--method", "entropy")
    int8 = calibrated["tensorrt"][0]
    one_line_error(cli("calibrate", int8, av_corpus, check=False), "already an int8 artifact")
    # seen before any calibrating, not after it
    for args, fragment in (
        (("--hop", "0"), "--hop must be positive"),
        (("--threads", "0"), "--threads must be at least 1"),
        (("-o", tmp_path), "is a folder: give a file name"),
        (("--calib-cache", tmp_path / "m.calib", "--trt-version", "nine"), "not a TensorRT version"),
    ):
        one_line_error(cli("calibrate", parent, av_corpus, *args, check=False), fragment)
    one_line_error(
        cli("calibrate", parent, av_corpus, "--actors", "1001,1002", "--eval-actors", "1002", check=False), "share 1002"
    )


def test_build_without_tensorrt_is_one_line(parent: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        proc = cli("build", parent, "-o", tmp_path / "m.engine", check=False)
        one_line_error(proc, "TensorRT is not installed")
        assert not (tmp_path / "m.engine").exists()
    else:
        pytest.skip("TensorRT is installed: tests/test_tensorrt_build.py builds a real engine")


def test_info_describes_an_int8_artifact(calibrated: dict) -> None:
    cal = read_metadata(calibrated["cpu"][0]).extra["calibration"]
    assert json.loads(json.dumps(cal)) == cal
    text = cli("info", calibrated["cpu"][0]).stdout
    for needle in ("int8", "QuantizeLinear", '"method": "minmax"', "audio_logits", "[1, 4, 112, 112, 3]"):
        assert needle in text, needle


def test_defaults_fit_the_machine_and_the_data(parent: Path, av_corpus: Path, tmp_path: Path) -> None:
    """No --target: the one this machine runs; no --samples: at most what DATA offers, said so;
    and none of ONNX Runtime's calibrator chatter on the terminal."""
    import importlib.util

    out = tmp_path / "m.int8.onnx"
    proc = cli(
        "calibrate", parent, av_corpus, "-o", out, "--method", "minmax", "--actors", "1001,1002",
        "--eval-actors", "1003", "--max-drop", "100", cache=tmp_path,
    )  # fmt: skip
    said = proc.stdout + proc.stderr
    target = "tensorrt" if importlib.util.find_spec("tensorrt") else "cpu"
    assert f"--target {target}: " in said
    assert "--samples 12: every calibration clip" in said  # actors 1001, 1002: 12 clips, fewer than 256
    assert "Collecting tensor data" not in said
    assert read_metadata(out).extra["calibration"]["samples"] == 12
