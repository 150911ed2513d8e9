"""The model in the box: the shipped files load, pass their checks, and `run` picks the right one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from edgefusion.artifact.metadata import read_metadata
from edgefusion.zoo import ROLES, ZooError, card, entries, shipped, zoo_root
from tests.conftest import cli, one_line_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ravdess"
ANGRY = EXAMPLES / "03-01-05-01-01-01-08.wav"
MAX_SHIPPED_MB = 14.0  # issue 26 asked for about 12 MB in all


def test_every_shipped_file_matches_its_manifest_and_contract() -> None:
    table = entries()
    assert set(table) == set(ROLES)
    assert sum(item.size for item in table.values()) / 1e6 < MAX_SHIPPED_MB
    for role in ROLES:
        assert shipped(role).is_file()
    metas = {role: read_metadata(shipped(role)) for role in ("onnx", "int8-cpu", "int8-tensorrt")}
    assert [m.precision for m in metas.values()] == ["fp32", "int8", "int8"]
    assert metas["int8-cpu"].extra["calibration"]["target"] == "cpu"
    assert metas["int8-tensorrt"].extra["calibration"]["target"] == "tensorrt"
    for meta in metas.values():
        assert meta.extra["modalities"] == ["audio"]  # trained on speech alone
        assert len(meta.extra["audio_reference"]) == meta.config.embed_dim  # adaptation can run
    from edgefusion.artifact.calibration_cache import read_calibration_cache
    from edgefusion.model.checkpoint import load_checkpoint

    _, ckpt = load_checkpoint(shipped("checkpoint"))
    assert ckpt["modalities"] == ["audio"]
    _, scales = read_calibration_cache(shipped("calib-cache"))
    assert len(scales) > 50  # a scale per tensor, for TensorRT's implicit INT8


def test_the_card_names_licence_data_and_limits() -> None:
    c = card()
    assert "non-commercial" in c["licence"]
    assert set(c["data"]) == {"ravdess", "emodb", "emovo"}
    assert {"checkpoint", "onnx", "int8-cpu", "int8-tensorrt"} <= set(c["accuracy"])
    assert any("audio only" in limit for limit in c["limits"])
    proc = cli("info")
    for fragment in ("speech.pt", "non-commercial", "trained on modalities", "limit: audio only", "int8-cpu"):
        assert fragment in proc.stdout, fragment


def test_run_with_no_artifact_runs_the_shipped_cpu_model(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    proc = cli("run", "--audio", f"file://{ANGRY}", "--fast", "--print", "--jsonl", out)
    assert "speech.int8.onnx, the shipped CPU INT8 model (no TensorRT here" in proc.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events[0]["label"] is None and events[0]["speech"] < 0.5  # the clip opens in silence
    decided = [e for e in events if e["label"] is not None]
    assert decided and all(e["present"] == {"audio": True, "video": False} for e in decided)
    assert events[-1]["adaptation"][0] > 0  # adaptation is on by default and took voiced windows
    assert "voice activity (silero)" in proc.stdout


def test_a_damaged_shipped_file_is_named_with_how_to_reinstall(tmp_path: Path) -> None:
    copy = tmp_path / "zoo"
    shutil.copytree(zoo_root(), copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    target = copy / entries()["int8-cpu"].path.name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, another checksum
    target.write_bytes(bytes(data))
    env = {"EDGEFUSION_ZOO": str(copy)}
    proc = cli("run", "--audio", f"file://{ANGRY}", "--fast", "--print", check=False, env=env)
    one_line_error(proc, "speech.int8.onnx: shipped int8-cpu file is damaged (SHA-256", "reinstall edgefusion")
    target.write_bytes(bytes(data[:1000]))  # truncated
    one_line_error(cli("info", target, check=False, env=env), "is damaged (1,000 bytes", "reinstall")
    (copy / "MANIFEST.json").write_text("{")
    one_line_error(cli("info", check=False, env=env), "MANIFEST.json: model manifest is not valid JSON")
    with pytest.raises(ZooError, match="no model manifest here"):
        shipped("onnx", tmp_path)


def test_without_tensorrt_the_engine_path_says_what_is_missing() -> None:
    from edgefusion.export.shipped import has_tensorrt, shipped_artifact
    from edgefusion.export.tensorrt_build import BuildError

    if has_tensorrt():
        pytest.skip("TensorRT is installed here: test_tensorrt_engine_is_built_once_and_reused covers it")
    with pytest.raises(BuildError) as caught:
        shipped_artifact(Console(quiet=True), tensorrt=True)
    assert "\n" not in str(caught.value) and "TensorRT" in str(caught.value)


def test_tensorrt_engine_is_built_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgefusion.export.shipped import has_tensorrt, shipped_artifact

    if not has_tensorrt():
        pytest.skip("TensorRT is not installed here (no NVIDIA GPU on this machine): the engine path cannot run")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    engine, why = shipped_artifact(Console(quiet=True))
    assert "just built" in why and engine.parent == tmp_path / "edgefusion" / "engines"
    built = engine.stat().st_mtime_ns
    again, why = shipped_artifact(Console(quiet=True))
    assert again == engine and "built earlier" in why and engine.stat().st_mtime_ns == built
    from edgefusion.runtime.runner import open_runner

    with open_runner(engine) as runner:
        rng = np.random.default_rng(0)
        audio = (0.1 * rng.standard_normal((1, 32000))).astype(np.float32)
        assert runner.infer({"audio": audio, "present": np.array([[1, 0]], "f4")})["logits"].shape == (1, 6)


def test_doctor_checks_the_shipped_model_and_the_vad(tmp_path: Path) -> None:
    report = tmp_path / "doctor.json"
    cli("doctor", "--json", report)
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert checks["shipped model"]["ok"] and "5 files, 13.5 MB, intact" in checks["shipped model"]["detail"]
    assert checks["voice activity"]["ok"] and checks["voice activity"]["detail"].endswith("silero_vad.onnx")
    proc = cli("doctor", "--json", report, env={"EDGEFUSION_ZOO": str(tmp_path)}, check=False)
    model = {c["name"]: c for c in json.loads(report.read_text())["checks"]}["shipped model"]
    assert not model["ok"] and "no model manifest here" in model["detail"] and "reinstall" in model["fix"]
    assert proc.returncode == 0  # an optional line: a damaged box does not fail the machine's report
