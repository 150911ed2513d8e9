"""`edgefusion export`: the ONNX graph, its metadata, its parity with PyTorch, FP16 and the TensorRT op check."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgefusion.artifact.graph import frontend_nodes, fusion_nodes, keep_fp32_nodes, op_counts
from edgefusion.artifact.metadata import read_metadata
from edgefusion.export.parity import FP16_RELATIVE_TOLERANCE, FP32_RELATIVE_TOLERANCE, compare
from edgefusion.runtime.runner import open_runner
from tests.conftest import cli, feed, one_line_error


@pytest.fixture(scope="module")
def exported(untrained_checkpoint: Path, av_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("export")
    fp32, fp16, dyn = work / "model.onnx", work / "model.fp16.onnx", work / "model.dyn.onnx"
    procs = {
        "fp32": cli("export", untrained_checkpoint, "-o", fp32, "--data", av_corpus, "--check-trt", cache=work),
        "fp16": cli("export", untrained_checkpoint, "-o", fp16, "--precision", "fp16", "--data", av_corpus, cache=work),
        "dyn": cli("export", untrained_checkpoint, "-o", dyn, "--dynamic-batch", "--data", av_corpus, cache=work),
    }
    return {"fp32": fp32, "fp16": fp16, "dyn": dyn, "procs": procs, "work": work}


def test_graph_follows_the_contract(exported: dict) -> None:
    model = onnx.load(str(exported["fp32"]))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    ops = op_counts(model)
    assert not {"STFT", "DFT"} & set(ops), ops
    assert ops["Conv"] > 10 and ops["Log"] == 1
    session = ort.InferenceSession(str(exported["fp32"]), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {
        "audio": ("tensor(float)", [1, 32000]),
        "video": ("tensor(uint8)", [1, 4, 112, 112, 3]),
        "present": ("tensor(float)", [1, 2]),
        "audio_shift": ("tensor(float)", [1, 128]),
    }
    assert [(o.name, o.shape) for o in session.get_outputs()] == [
        ("logits", [1, 6]),
        ("audio_logits", [1, 6]),
        ("video_logits", [1, 6]),
        ("audio_embedding", [1, 128]),
    ]


def test_metadata_describes_the_model(exported: dict) -> None:
    meta = read_metadata(exported["fp32"])
    assert meta.classes == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
    assert meta.precision == "fp32" and meta.batch == 1
    assert meta.config.window_samples == 32000 and meta.config.frames == 4
    names = ["audio", "video", "present", "audio_shift", "logits", "audio_logits", "video_logits", "audio_embedding"]
    assert [c["name"] for c in meta.contract] == names
    assert meta.extra["export"]["simplified"] is True
    assert read_metadata(exported["dyn"]).batch is None
    assert read_metadata(exported["fp16"]).precision == "fp16"


def test_parity_is_printed_and_within_1e4(exported: dict, untrained_checkpoint: Path) -> None:
    out = exported["procs"]["fp32"].stdout
    # 16 windows, each with both modalities, audio alone, video alone, and both with a speaker shift
    assert "parity, ONNX Runtime vs PyTorch on 64 windows" in out and "clips of" in out
    x = feed(4)
    with open_runner(exported["fp32"]) as artifact, open_runner(untrained_checkpoint) as ref:
        got, want = artifact.infer(x), ref.infer(x)
    for k in want:
        assert np.abs(got[k] - want[k]).max() <= 1e-4, k


def test_fp32_gate_rejects_a_float16_grade_difference(exported: dict, untrained_checkpoint: Path) -> None:
    """The fp32 limit passes the fp32 graph and would refuse the fp16 one, which its own limit passes."""
    x = feed(4)
    with open_runner(untrained_checkpoint) as ref:
        with open_runner(exported["fp32"]) as fp32:
            same = compare(fp32, ref, x, "tones")
        with open_runner(exported["fp16"]) as fp16:
            half = compare(fp16, ref, x, "tones")
    assert same.relative <= FP32_RELATIVE_TOLERANCE < half.relative <= FP16_RELATIVE_TOLERANCE


def test_dynamic_batch_matches_pytorch(exported: dict, untrained_checkpoint: Path) -> None:
    x = feed(3)
    with open_runner(exported["dyn"]) as dyn, open_runner(untrained_checkpoint) as ref:
        got, want = dyn.infer(x), ref.infer(x)
    for k in want:
        assert got[k].shape == (3, 128 if k == "audio_embedding" else 6)
        np.testing.assert_allclose(got[k], want[k], atol=1e-4)


def test_masked_video_does_not_change_the_fused_output_in_onnx(exported: dict) -> None:
    a, b = feed(1, seed=1), feed(1, seed=2)
    b["audio"] = a["audio"]
    for x in (a, b):
        x["present"] = np.array([[1.0, 0.0]], dtype=np.float32)
    with open_runner(exported["fp32"]) as runner:
        la, lb = runner.infer(a)["logits"], runner.infer(b)["logits"]
    np.testing.assert_array_equal(la, lb)


def test_fusion_nodes_are_everything_after_the_trunk(exported: dict) -> None:
    model = onnx.load(str(exported["fp32"]))
    fusion = set(fusion_nodes(model))
    ops = Counter(n.op_type for n in model.graph.node if n.name in fusion)
    assert ops["Conv"] == 0 and ops["Softmax"] == 1 and ops["LayerNormalization"] == 5  # 2 in fusion, 3 heads
    outputs = {o.name for o in model.graph.output}
    assert outputs == {o for n in model.graph.node if n.name in fusion for o in n.output} & outputs
    trunk = [n for n in model.graph.node if n.op_type == "Conv" and n.name not in frontend_nodes(model)]
    keep = set(keep_fp32_nodes(model))
    assert fusion <= keep and len(trunk) > 10 and not keep.intersection(n.name for n in trunk)


def test_fp16_keeps_the_front_end_and_softmax_in_float32(exported: dict, untrained_checkpoint: Path) -> None:
    fp32, fp16 = onnx.load(str(exported["fp32"])), onnx.load(str(exported["fp16"]))
    inferred = onnx.shape_inference.infer_shapes(fp16)
    dtypes = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    by_name = {n.name: n for n in fp16.graph.node}
    for name in keep_fp32_nodes(fp32):
        for out in by_name[name].output:
            assert dtypes.get(out, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT, (name, out)
    weights = {t.name: t.data_type for t in fp16.graph.initializer}
    front_weights = [i for name in frontend_nodes(fp32) for i in by_name[name].input if i in weights]
    assert front_weights and onnx.TensorProto.FLOAT16 not in {weights[w] for w in front_weights}  # DFT basis, mel
    convs = [n for n in fp16.graph.node if n.op_type == "Conv" and n.name not in frontend_nodes(fp32)]
    assert all(dtypes[c.output[0]] == onnx.TensorProto.FLOAT16 for c in convs)
    assert exported["fp16"].stat().st_size < 0.7 * exported["fp32"].stat().st_size
    x = feed(2)
    with open_runner(exported["fp16"]) as half, open_runner(untrained_checkpoint) as ref:
        got, want = half.infer(x), ref.infer(x)
    for k in want:
        assert np.abs(got[k] - want[k]).max() < 0.01 * np.abs(want[k]).max() + 1e-3, k


def test_trt_check_table_and_unknown_version(exported: dict, untrained_checkpoint: Path, tmp_path: Path) -> None:
    out = exported["procs"]["fp32"].stdout
    assert "10.3" in out and "Conv" in out and "every op is supported by TensorRT 10.3" in out
    proc = cli(
        "export", untrained_checkpoint, "-o", tmp_path / "m.onnx", "--check-trt", "--trt-version", "7.1", check=False
    )
    one_line_error(proc, "7.1")
    assert not (tmp_path / "m.onnx").exists()


def test_export_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    one_line_error(cli("export", junk, "-o", tmp_path / "m.onnx", check=False), str(junk))
    one_line_error(cli("export", tmp_path / "missing.pt", check=False), "missing.pt", "no such file")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*pending"))
