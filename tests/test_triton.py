"""Triton model repositories: every config.pbtxt written is parsed by Triton's own ModelConfig protobuf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgefusion.artifact.metadata import read_metadata
from edgefusion.zoo import shipped
from tests.conftest import cli, one_line_error
from tests.test_tensorrt_runner import write_engine

model_config_pb2 = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] is not installed (pip install -e '.[dev]')"
)
text_format = pytest.importorskip("google.protobuf.text_format")
TYPES = {"float32": "TYPE_FP32", "uint8": "TYPE_UINT8"}


def parse(folder: Path) -> Any:
    """The model folder's config.pbtxt as Triton's ModelConfig (a parse error fails the test)."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse((folder / "config.pbtxt").read_text(encoding="utf-8"), config)
    return config


def check_against_contract(config: Any, contract: list[dict], batched: bool) -> None:
    for io, tensors in (("in", config.input), ("out", config.output)):
        want = [t for t in contract if t["io"] == io]
        assert [t.name for t in tensors] == [t["name"] for t in want]
        for got, spec in zip(tensors, want, strict=True):
            assert model_config_pb2.DataType.Name(got.data_type) == TYPES[spec["dtype"]]
            dims = spec["shape"][1:] if batched else [1 if isinstance(d, str) else d for d in spec["shape"]]
            assert list(got.dims) == dims


@pytest.fixture(scope="module")
def dynamic_onnx(untrained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("triton") / "dyn.onnx"
    cli("export", untrained_checkpoint, "-o", out, "--dynamic-batch")
    return out


def test_a_dynamic_fp32_onnx_gets_dynamic_batching(dynamic_onnx: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    cli("triton", dynamic_onnx, "--repo", repo, "--name", "emotion", "--preferred", "4,8", "--max-queue-delay", "500",
        "--instances", "cpu:2", "--instances", "gpu:1")  # fmt: skip
    folder = repo / "emotion"
    assert (folder / "1" / "model.onnx").read_bytes() == dynamic_onnx.read_bytes()
    config = parse(folder)
    assert config.name == "emotion" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    groups = [(model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind), g.count) for g in config.instance_group]
    assert groups == [("KIND_CPU", 2), ("KIND_GPU", 1)]
    meta = read_metadata(dynamic_onnx)
    check_against_contract(config, meta.contract, batched=True)
    carried = {k: json.loads(v.string_value) for k, v in config.parameters.items()}
    assert carried["edgefusion.contract"] == meta.contract and carried["edgefusion.precision"] == "fp32"
    assert carried["edgefusion.config"] == meta.config.to_dict()


def test_the_shipped_int8_onnx_has_a_fixed_batch_and_no_batching(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    cli("triton", shipped("int8-cpu"), "--repo", repo)
    config = parse(repo / "edgefusion")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    meta = read_metadata(shipped("int8-cpu"))
    check_against_contract(config, meta.contract, batched=False)
    carried = {k: json.loads(v.string_value) for k, v in config.parameters.items()}
    assert carried["edgefusion.modalities"] == ["audio"] and carried["edgefusion.calibration"]["target"] == "cpu"
    cli("triton", shipped("int8-cpu"), "--repo", repo, "--version", "2")  # a second version beside the first
    assert sorted(p.name for p in (repo / "edgefusion").iterdir()) == ["1", "2", "config.pbtxt"]


def test_an_engine_becomes_a_tensorrt_plan(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, batch="B", modalities=["audio"])  # a build record for batches 1..4
    repo = tmp_path / "repo"
    cli("triton", engine, "--repo", repo, "--preferred", "2,4", "--instances", "gpu:1")
    config = parse(repo / "edgefusion")
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 4
    assert (repo / "edgefusion" / "1" / "model.plan").read_bytes() == engine.read_bytes()
    record = json.loads(engine.with_name(engine.name + ".json").read_text())
    check_against_contract(config, record["contract"], batched=True)


def test_what_cannot_be_served_is_refused_in_one_line(tmp_path: Path, untrained_checkpoint: Path) -> None:
    int8 = shipped("int8-cpu")
    repo = tmp_path / "repo"
    cases = [
        ((untrained_checkpoint, "--repo", repo), "export the checkpoint first"),
        ((int8, "--repo", repo, "--preferred", "4"), "fixed batch of 1: Triton cannot batch it"),
        ((int8, "--repo", repo, "--instances", "tpu:1"), "give cpu:N or gpu:N"),
        ((int8, "--repo", repo, "--instances", "cpu:x"), "give KIND:COUNT"),
        ((int8, "--repo", repo, "--name", "a/b"), "one folder name"),
        ((int8, "--repo", repo, "--version", "0"), "positive integers"),
        ((tmp_path / "missing.onnx", "--repo", repo), "no such file"),
    ]
    for args, fragment in cases:
        one_line_error(cli("triton", *args, check=False), fragment)
    cli("triton", int8, "--repo", repo)
    one_line_error(cli("triton", int8, "--repo", repo, check=False), "exists: give another --version")
