"""Engine builds: the plan, the build record and its checks run anywhere; the build itself needs TensorRT."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgefusion.artifact.metadata import ArtifactMeta, new_meta, save_onnx, set_metadata
from edgefusion.artifact.sidecar import (
    EngineMismatchError,
    SidecarError,
    check_sidecar,
    read_sidecar,
    sidecar_path,
    version_runs,
    write_sidecar,
)
from edgefusion.config import ModelConfig
from edgefusion.errors import EdgefusionError
from edgefusion.export.tensorrt_build import (
    DEFAULT_BATCH,
    TRT_MISSING,
    BuildError,
    _node_of,
    asymmetric_quantization,
    build_engine,
    plan_build,
)
from edgefusion.labels import CLASSES

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
CONTRACT = [
    {"name": "x", "io": "in", "dtype": "float32", "shape": ["B", 4], "meaning": "test input"},
    {"name": "y", "io": "out", "dtype": "float32", "shape": ["B", 4], "meaning": "test output"},
]


def _meta(precision: str = "fp32", batch: int | str = "B") -> ArtifactMeta:
    contract = [dict(t, shape=[batch, *t["shape"][1:]]) for t in CONTRACT]
    return new_meta(ModelConfig(), list(CLASSES), contract, precision)


def _record(**changes) -> dict:
    record = {
        "format": 1,
        "tensorrt_version": "10.3.0.30",
        "gpu": "Orin",
        "compute_capability": "8.7",
        "precision": "fp16",
        "contract": CONTRACT,
        "batch": [1, 1, 1],
        "onnx": {"path": "model.onnx", "sha256": "0" * 64, "precision": "fp32"},
        "build": {"version_compatible": False, "flags": ["FP16"]},
        "classes": list(CLASSES),
        "config": ModelConfig().to_dict(),
    }
    record.update(changes)
    return record


# -- the build record ---------------------------------------------------------------------


def test_sidecar_path_sits_beside_the_engine():
    assert sidecar_path(Path("out/model.engine")) == Path("out/model.engine.json")
    assert sidecar_path("model.plan") == Path("model.plan.json")


def test_sidecar_round_trip(tmp_path):
    engine = tmp_path / "model.engine"
    record = _record()
    path = write_sidecar(engine, record)
    assert path == tmp_path / "model.engine.json"
    assert json.loads(path.read_text()) == record
    assert read_sidecar(engine) == record
    check_sidecar(read_sidecar(engine), engine, "10.3.0.30", "Orin", "8.7")  # same machine: no error
    check_sidecar(record, engine, "10.3.0", "Orin", "8.7")  # the build number does not matter


def test_missing_sidecar_says_how_to_rebuild(tmp_path):
    with pytest.raises(SidecarError) as err:
        read_sidecar(tmp_path / "model.engine")
    message = str(err.value)
    assert "\n" not in message and "model.engine.json" in message and "edgefusion build" in message


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"gpu": "Orin"}', "\udcff"])
def test_corrupt_sidecar_is_one_line(tmp_path, text):
    engine = tmp_path / "model.engine"
    sidecar_path(engine).write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(SidecarError) as err:
        read_sidecar(engine)
    message = str(err.value)
    assert "\n" not in message and str(sidecar_path(engine)) in message and "edgefusion build" in message


def test_other_tensorrt_version_names_both_and_the_rebuild_command(tmp_path):
    engine = tmp_path / "model.engine"
    with pytest.raises(EngineMismatchError) as err:
        check_sidecar(_record(), engine, "10.7.0", "Orin", "8.7")
    message = str(err.value)
    assert "\n" not in message
    assert "10.3.0.30" in message and "10.7.0" in message
    assert f"edgefusion build model.onnx -o {engine} --precision fp16" in message


def test_other_gpu_names_both(tmp_path):
    engine = tmp_path / "model.engine"
    with pytest.raises(EngineMismatchError) as err:
        check_sidecar(_record(), engine, "10.3.0.30", "NVIDIA GeForce RTX 4090", "8.9")
    message = str(err.value)
    assert "Orin" in message and "RTX 4090" in message and "8.7" in message and "8.9" in message
    assert "architecture" in message
    with pytest.raises(EngineMismatchError, match="GPU model"):
        check_sidecar(_record(gpu="NVIDIA RTX A6000", compute_capability="8.6"), engine, "10.3.0", "RTX 3090", "8.6")
    # a side whose GPU could not be read is not held against the engine
    check_sidecar(_record(gpu="unknown", compute_capability="unknown"), engine, "10.3.0", "RTX 3090", "8.6")


def test_version_compatible_engine_runs_on_newer_tensorrt(tmp_path):
    engine = tmp_path / "model.engine"
    record = _record(build={"version_compatible": True})
    check_sidecar(record, engine, "10.7.0", "Orin", "8.7")
    with pytest.raises(EngineMismatchError, match="version-compatible"):
        check_sidecar(record, engine, "10.2.0", "Orin", "8.7")


@pytest.mark.parametrize(
    ("built", "running", "compatible", "runs"),
    [
        ("10.3.0", "10.3.0.30", False, True),
        ("10.3.0", "10.3.1", False, False),
        ("10.3.0", "10.16.1", True, True),
        ("10.16.1", "10.3.0", True, False),
        ("10.3.0", "11.4.1", True, True),
        ("8.6.1", "9.3.0", True, True),
        ("8.6.1", "10.3.0", True, True),
        ("8.6.1", "11.0.0", True, False),
        ("10.3.0", "12.0.0", True, False),
        ("10.3.0", "11.0.0", False, False),
    ],
)
def test_version_rules(built, running, compatible, runs):
    assert version_runs(built, running, compatible) is runs


def test_check_sidecar_refuses_an_incomplete_record(tmp_path):
    record = _record()
    del record["gpu"]
    with pytest.raises(SidecarError, match="lacks gpu"):
        check_sidecar(record, tmp_path / "model.engine", "10.3.0", "Orin", "8.7")


# -- the plan -----------------------------------------------------------------------------


def test_qdq_graph_is_strongly_typed_from_tensorrt_10():
    plan = plan_build("int8", _meta("int8"), True, "10.3.0", "m.onnx")
    assert plan.strongly_typed and plan.flags == () and not plan.explicit_batch and not plan.calibrate
    assert plan.batch == DEFAULT_BATCH


def test_qdq_graph_on_86_uses_the_int8_flag_and_explicit_batch():
    plan = plan_build("int8", _meta("int8"), True, "8.6.1", "m.onnx")
    assert not plan.strongly_typed and plan.explicit_batch and plan.flags == ("INT8",)


def test_qdq_graph_on_11_is_strongly_typed():
    plan = plan_build("int8", _meta("int8"), True, "11.2.0", "m.onnx")
    assert plan.strongly_typed and plan.flags == ()


def test_fp16_from_a_float32_onnx_pins_the_front_end():
    plan = plan_build("fp16", _meta(), False, "10.3.0", "m.onnx")
    assert plan.flags == ("FP16", "OBEY_PRECISION_CONSTRAINTS") and plan.pin_fp32 and not plan.strongly_typed


def test_fp16_onnx_is_built_strongly_typed():
    plan = plan_build("fp16", _meta("fp16"), False, "10.3.0", "m.onnx")
    assert plan.strongly_typed and plan.flags == () and not plan.pin_fp32


def test_tensorrt_11_needs_the_fp16_onnx():
    with pytest.raises(BuildError, match="removed the FP16 builder flag") as err:
        plan_build("fp16", _meta(), False, "11.0.0", "m.onnx")
    assert "\n" not in str(err.value) and "m.onnx" in str(err.value)
    assert plan_build("fp16", _meta("fp16"), False, "11.0.0", "m.onnx").strongly_typed


def test_implicit_int8_needs_a_cache_and_is_gone_in_11(tmp_path):
    cache = tmp_path / "m.calib"
    with pytest.raises(BuildError, match="edgefusion calibrate"):
        plan_build("int8", _meta(), False, "10.3.0", "m.onnx")
    plan = plan_build("int8", _meta(), False, "10.3.0", "m.onnx", calib_cache=cache)
    assert plan.calibrate and plan.pin_fp32 and "INT8" in plan.flags and not plan.strongly_typed
    with pytest.raises(BuildError, match="removed implicit INT8 calibration") as err:
        plan_build("int8", _meta(), False, "11.1.0", "m.onnx", calib_cache=cache)
    assert "edgefusion calibrate" in str(err.value)


def test_precision_must_match_the_artifact(tmp_path):
    with pytest.raises(BuildError, match="--precision int8"):
        plan_build("fp16", _meta("int8"), True, "10.3.0", "m.onnx")
    with pytest.raises(BuildError, match="float16 ONNX"):
        plan_build("fp32", _meta("fp16"), False, "10.3.0", "m.onnx")
    with pytest.raises(BuildError, match="calibration cache is only"):
        plan_build("int8", _meta("int8"), True, "10.3.0", "m.onnx", calib_cache=tmp_path / "c")
    with pytest.raises(BuildError, match="unknown precision"):
        plan_build("int4", _meta(), False, "10.3.0", "m.onnx")


def test_fp32_means_float32_not_tf32():
    plan = plan_build("fp32", _meta(), False, "10.3.0", "m.onnx")
    assert plan.clear_flags == ("TF32",) and plan.flags == ()


def test_batch_profile():
    assert plan_build("fp32", _meta(), False, "10.3.0", "m.onnx", batch=(1, 4, 8)).batch == (1, 4, 8)
    assert plan_build("fp32", _meta(batch=2), False, "10.3.0", "m.onnx").batch is None
    with pytest.raises(BuildError, match="fixed batch of 2") as err:
        plan_build("fp32", _meta(batch=2), False, "10.3.0", "m.onnx", batch=(1, 2, 4))
    assert "\n" not in str(err.value)
    with pytest.raises(BuildError, match="MIN <= OPT <= MAX"):
        plan_build("fp32", _meta(), False, "10.3.0", "m.onnx", batch=(4, 2, 8))


def test_flags_for_version_compatibility_and_dla():
    plan = plan_build("fp16", _meta(), False, "8.6.1", "m.onnx", version_compatible=True, dla_core=0)
    assert "VERSION_COMPATIBLE" in plan.flags and "GPU_FALLBACK" in plan.flags
    with pytest.raises(BuildError, match="DLA runs FP16 and INT8 only"):
        plan_build("fp32", _meta(), False, "10.3.0", "m.onnx", dla_core=0)


@pytest.mark.parametrize("version", ["8.5.3", "7.2.1", "not-a-version"])
def test_old_tensorrt_refused(version):
    with pytest.raises(BuildError, match="not supported"):
        plan_build("fp32", _meta(), False, version, "m.onnx")


def test_layer_names_map_to_their_onnx_node():
    nodes = {"/frontend/Log", "/frontend/conv/Conv"}
    assert _node_of("/frontend/Log", nodes) == "/frontend/Log"
    assert _node_of("/frontend/conv/Conv_1", nodes) == "/frontend/conv/Conv"
    assert _node_of("/encoder/Conv", nodes) is None
    assert _node_of("/frontend/Log_x", nodes) is None


def test_asymmetric_quantization_is_found():
    def qdq(zero: np.ndarray) -> onnx.ModelProto:
        inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(zero, "z")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0")]
        graph = helper.make_graph(nodes, "g", [], [], initializer=inits)
        return helper.make_model(graph)

    assert asymmetric_quantization(qdq(np.array(0, np.int8))) is None
    assert asymmetric_quantization(qdq(np.array(128, np.uint8))) == "q0"
    assert asymmetric_quantization(qdq(np.array(3, np.int8))) == "q0"


# -- building -----------------------------------------------------------------------------


def _tiny_onnx(path: Path) -> Path:
    """y = relu(x) + 1 over x: float32 [B, 4], with edgefusion metadata."""
    one = numpy_helper.from_array(np.ones(4, np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node("Add", ["r", "one"], ["y"], name="add")],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 4])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    set_metadata(model, _meta())
    onnx.checker.check_model(model)
    return save_onnx(model, path)


def test_build_without_tensorrt_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # what an absent package looks like to `import`
    with pytest.raises(BuildError) as err:
        build_engine(tmp_path / "model.onnx", tmp_path / "model.engine", "fp16")
    assert isinstance(err.value, EdgefusionError)
    assert str(err.value) == TRT_MISSING and "\n" not in TRT_MISSING
    assert not (tmp_path / "model.engine").exists()


def test_arguments_checked_before_tensorrt(tmp_path):
    with pytest.raises(BuildError, match="unknown precision"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", "int4")
    with pytest.raises(BuildError, match="workspace"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", "fp32", workspace_mb=0)


@pytest.mark.skipif(not HAS_TENSORRT, reason="TensorRT not installed")
def test_build_a_real_engine(tmp_path):
    from edgefusion.export.tensorrt_build import gpu_info, import_tensorrt

    trt = import_tensorrt()
    onnx_path = _tiny_onnx(tmp_path / "tiny.onnx")
    engine = tmp_path / "out" / "tiny.engine"
    timing = tmp_path / "timing.cache"
    assert build_engine(onnx_path, engine, "fp32", workspace_mb=64, timing_cache=timing, batch=(1, 2, 4)) == engine
    assert engine.stat().st_size > 0 and timing.stat().st_size > 0
    record = read_sidecar(engine)
    assert record["tensorrt_version"] == trt.__version__
    assert record["precision"] == "fp32" and record["batch"] == [1, 2, 4]
    assert record["contract"] == _meta().contract and record["classes"] == list(CLASSES)
    assert record["onnx"]["path"] == str(onnx_path)
    gpu, capability = gpu_info()
    check_sidecar(record, engine, trt.__version__, gpu, capability)
    # the timing cache is picked up again by the next build
    build_engine(onnx_path, engine, "fp32", workspace_mb=64, timing_cache=timing, batch=(1, 2, 4))
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    assert runtime.deserialize_cuda_engine(engine.read_bytes()) is not None
