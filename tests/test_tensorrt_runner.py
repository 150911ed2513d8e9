"""The TensorRT runner: build-record handling and errors run anywhere; engines need an NVIDIA GPU.

Without a GPU only what needs no CUDA runs: the build record (sidecar), the one-line errors for
a missing TensorRT, pycuda or cuda-python, and the batching plan. With TensorRT and pycuda, real
engines are built and compared with ONNX Runtime; no fake of TensorRT or CUDA stands in for
them anywhere.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgefusion.adaptation import AdaptationError, reference_of
from edgefusion.artifact.contract import OUTPUTS, contract
from edgefusion.artifact.sidecar import sidecar_path, write_sidecar
from edgefusion.config import ModelConfig
from edgefusion.errors import EdgefusionError
from edgefusion.labels import CLASSES
from edgefusion.runtime.runner import RunnerError, open_runner
from edgefusion.runtime.tensorrt_runner import TensorRTRunner, import_cudart, plan_chunks, uses_tensor_api
from tests.conftest import cli, feed


def _importable(*modules: str) -> bool:
    try:
        for module in modules:
            __import__(module)
    except (ImportError, OSError):
        return False
    return True


HAS_GPU_STACK = _importable("tensorrt", "pycuda.driver")
HAS_CUDART = _importable("cuda.bindings.runtime") or _importable("cuda.cudart")
needs_gpu = pytest.mark.skipif(not HAS_GPU_STACK, reason="TensorRT and pycuda not installed (needs an NVIDIA GPU)")
ENGINE_BYTES = b"fake serialized engine"
RECORD_GPU, RECORD_CC, RECORD_TRT = "Orin", "8.7", "10.3.0.30"


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def write_engine(
    folder: Path, data: bytes = ENGINE_BYTES, batch: int | str = 1, name: str = "model.engine", **changes: Any
) -> Path:
    """An engine file and a build record like ``edgefusion build`` writes."""
    engine = folder / name
    engine.write_bytes(data)
    record = {
        "format": 1,
        "engine": engine.name,
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "tensorrt_version": RECORD_TRT,
        "gpu": RECORD_GPU,
        "compute_capability": RECORD_CC,
        "precision": "int8",
        "contract": contract(ModelConfig(), batch),
        "batch": [1, 2, 4] if batch == "B" else [batch] * 3,
        "onnx": {"path": "model.onnx", "sha256": "0" * 64, "precision": "fp32"},
        "build": {"version_compatible": False, "flags": []},
        "edgefusion_version": "0.1.0",
        "classes": list(CLASSES),
        "config": ModelConfig().to_dict(),
        "calibration": None,
    }
    record.update(changes)
    write_sidecar(engine, record)
    return engine


# -- anywhere: the build record, errors, pure helpers ----------------------------------------


def test_missing_sidecar_says_how_to_rebuild(tmp_path: Path) -> None:
    engine = tmp_path / "x.engine"
    engine.write_bytes(ENGINE_BYTES)
    with pytest.raises(EdgefusionError) as err:
        open_runner(engine)
    message = _one_line(err)
    assert "x.engine.json" in message and "edgefusion build" in message


def test_missing_engine_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(RunnerError) as err:
        open_runner(tmp_path / "x.plan")
    message = _one_line(err)
    assert "x.plan" in message and "edgefusion build" in message


def test_meta_comes_from_the_sidecar_without_tensorrt(tmp_path: Path) -> None:
    engine = write_engine(tmp_path)
    runner = open_runner(engine, threads=2)  # every backend takes threads
    assert isinstance(runner, TensorRTRunner) and runner.backend == "tensorrt"
    assert runner.meta.contract == contract(ModelConfig(), 1)
    assert runner.meta.classes == list(CLASSES)
    assert runner.meta.precision == "int8" and runner.meta.batch == 1
    assert runner.meta.config == ModelConfig()
    assert runner.meta.extra["tensorrt"]["gpu"] == RECORD_GPU
    assert runner.description == "tensorrt 10.3 (int8, Orin)"
    assert TensorRTRunner(engine, cuda_graph=True).description == "tensorrt 10.3 (int8, Orin, CUDA graph)"
    assert not runner.active


def test_an_engine_keeps_the_trained_modalities(tmp_path: Path) -> None:
    """An engine of a speech-only model masks its video as the ONNX does; a record without the key knows both."""
    speech = open_runner(write_engine(tmp_path, modalities=["audio"]))
    assert speech.trained == ("audio",) and speech.masked == ("video",)
    assert open_runner(write_engine(tmp_path, name="old.engine")).masked == ()


def test_records_of_both_contracts_are_read_and_the_reference_kept(tmp_path: Path) -> None:
    """An engine built from a 0.2 ONNX takes audio_shift and carries the training reference; one
    built from a 0.1 ONNX (three inputs, three outputs) is read too, and is not adaptable."""
    reference = [0.5] * ModelConfig().embed_dim
    new = open_runner(write_engine(tmp_path, audio_reference=reference))
    assert new.adaptable and new.outputs[-1] == "audio_embedding"
    assert reference_of(new.meta.extra, new.path, new.adaptable).tolist() == reference
    old_contract = [t for t in contract(ModelConfig(), 1) if t["name"] not in ("audio_shift", "audio_embedding")]
    old = open_runner(write_engine(tmp_path, name="old.engine", contract=old_contract))
    assert not old.adaptable and old.outputs == ("logits", "audio_logits", "video_logits")
    with pytest.raises(AdaptationError, match=r"old\.engine: exported before speaker adaptation"):
        reference_of(old.meta.extra, old.path, old.adaptable)
    odd = [t for t in contract(ModelConfig(), 1) if t["name"] != "present"]
    with pytest.raises(RunnerError, match="contract is not edgefusion's"):
        open_runner(write_engine(tmp_path, name="odd.engine", contract=odd))


def test_without_tensorrt_activation_says_what_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # what an absent package looks like to `import`
    runner = open_runner(write_engine(tmp_path))
    with pytest.raises(RunnerError) as err, runner:
        pass
    message = _one_line(err)
    assert "TensorRT is not installed" in message and "NVIDIA GPU" in message and "model.engine" in message
    assert not runner.active


def test_without_pycuda_activation_says_what_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setitem(sys.modules, "pycuda", None)
    with pytest.raises(RunnerError) as err, open_runner(write_engine(tmp_path)):
        pass
    assert "pycuda is not installed" in _one_line(err)


@pytest.mark.skipif(HAS_CUDART, reason="cuda-python is installed")
def test_cuda_graphs_without_cuda_python_is_one_line() -> None:
    with pytest.raises(RunnerError) as err:
        import_cudart()
    assert "cuda-python" in _one_line(err)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"contract": None}, "contract is not edgefusion's"),
        ({"contract": [{"name": "x", "io": "in", "dtype": "float32", "shape": ["B", 4]}]}, "not edgefusion's"),
        ({"config": {"not_a_setting": 1}}, "unknown model settings"),
    ],
)
def test_bad_build_record_is_one_line(tmp_path: Path, changes: dict, fragment: str) -> None:
    with pytest.raises(EdgefusionError) as err:
        open_runner(write_engine(tmp_path, **changes))
    message = _one_line(err)
    assert fragment in message and str(sidecar_path(tmp_path / "model.engine")) in message


def test_record_without_contract_says_to_rebuild(tmp_path: Path) -> None:
    engine = write_engine(tmp_path)
    record = json.loads(sidecar_path(engine).read_text())
    del record["classes"]
    write_sidecar(engine, record)
    with pytest.raises(RunnerError) as err:
        open_runner(engine)
    assert "lacks classes" in _one_line(err) and "edgefusion build" in str(err.value)


def test_plan_chunks_splits_and_pads() -> None:
    assert plan_chunks(3, 1, 1) == [(0, 1, 1), (1, 2, 1), (2, 3, 1)]
    assert plan_chunks(7, 1, 4) == [(0, 4, 4), (4, 7, 3)]
    assert plan_chunks(5, 2, 4) == [(0, 4, 4), (4, 5, 2)]  # the last row runs padded to the minimum
    assert plan_chunks(1, 4, 4) == [(0, 1, 4)]
    assert plan_chunks(0, 1, 4) == []
    with pytest.raises(ValueError):
        plan_chunks(3, 0, 4)


def test_api_by_version() -> None:
    assert uses_tensor_api("10.3.0.30") and uses_tensor_api("11.4.1")
    assert not uses_tensor_api("8.6.1.6")


# -- on an NVIDIA GPU: a real engine against ONNX Runtime ------------------------------------


@pytest.fixture(scope="module")
def built(
    untrained_checkpoint: Path, exported_onnx: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path]]:
    """(onnx, engine) pairs: fixed batch 1, and a dynamic batch built for 1..4."""
    from edgefusion.export.tensorrt_build import build_engine

    work = tmp_path_factory.mktemp("tensorrt")
    fixed, dynamic = work / "model.onnx", work / "model.dyn.onnx"
    shutil.copyfile(exported_onnx, fixed)
    cli("export", untrained_checkpoint, "-o", dynamic, "--dynamic-batch")
    return {
        "fixed": (fixed, build_engine(fixed, work / "model.engine", "fp32")),
        "dynamic": (dynamic, build_engine(dynamic, work / "model.dyn.engine", "fp32", batch=(1, 2, 4))),
    }


def _agree(got: dict[str, np.ndarray], want: dict[str, np.ndarray], rows: int) -> None:
    for k in OUTPUTS:
        assert got[k].shape == (rows, len(CLASSES)) and got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], want[k], atol=1e-3)


@needs_gpu
@pytest.mark.parametrize("kind", ["fixed", "dynamic"])
def test_fp32_engine_agrees_with_onnxruntime(built: dict, kind: str) -> None:
    onnx_path, engine = built[kind]
    x = feed(6, seed=7)
    with open_runner(engine) as trt_runner, open_runner(onnx_path, threads=1) as ort_runner:
        assert trt_runner.description.startswith("tensorrt ")
        _agree(trt_runner.infer(x), ort_runner.infer(x), 6)


@needs_gpu
def test_infer_from_a_second_thread(built: dict) -> None:
    onnx_path, engine = built["fixed"]
    x = feed(2, seed=8)
    with open_runner(engine) as runner, open_runner(onnx_path, threads=1) as reference:
        here = runner.infer(x)
        with ThreadPoolExecutor(1) as pool:
            there = pool.submit(runner.infer, x).result()
        want = reference.infer(x)
    _agree(there, want, 2)
    for k in OUTPUTS:
        np.testing.assert_allclose(there[k], here[k], atol=1e-6)


@needs_gpu
def test_runner_opens_again_after_closing(built: dict) -> None:
    _, engine = built["fixed"]
    runner = open_runner(engine)
    x = feed(1, seed=9)
    with runner:
        first = runner.infer(x)
    assert not runner.active
    with runner:
        again = runner.infer(x)
    np.testing.assert_allclose(first["logits"], again["logits"], atol=1e-6)


@needs_gpu
def test_split_timing_reports_copies_and_compute_within_the_call(built: dict) -> None:
    import time

    _, engine = built["dynamic"]
    x = feed(4, seed=12)
    with open_runner(engine, split_timing=True) as runner:
        assert runner.last_split is None
        runner.infer(x)
        start = time.perf_counter()
        runner.infer(x)
        wall_ms = 1e3 * (time.perf_counter() - start)
        split = runner.last_split
    assert split is not None and set(split) == {"h2d", "compute", "d2h"}
    assert all(v >= 0 for v in split.values()) and split["compute"] > 0
    assert sum(split.values()) <= wall_ms  # events sit inside the synchronous call


@pytest.mark.skipif(not HAS_CUDART, reason="cuda-python not installed (CUDA graphs need it)")
@needs_gpu
def test_cuda_graph_replay_matches(built: dict) -> None:
    _, engine = built["dynamic"]
    x, y = feed(3, seed=10), feed(3, seed=11)
    with open_runner(engine) as plain, open_runner(engine, cuda_graph=True) as graphed:
        graphed.infer(x)  # ordinary run, then capture
        for z in (y, x):
            _agree(graphed.infer(z), plain.infer(z), 3)


@needs_gpu
def test_engine_from_other_tensorrt_is_refused(built: dict, tmp_path: Path) -> None:
    _, engine = built["fixed"]
    copy = tmp_path / engine.name
    copy.write_bytes(engine.read_bytes())
    record = json.loads(sidecar_path(engine).read_text())
    record["tensorrt_version"] = "8.6.0"
    write_sidecar(copy, record)
    with pytest.raises(EdgefusionError) as err, open_runner(copy):
        pass
    message = _one_line(err)
    assert "8.6.0" in message and "edgefusion build" in message
