"""NVIDIA's Polygraphy as an outside referee: it loads every artifact and agrees with edgefusion's runners."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgefusion.runtime.runner import open_runner
from tests.conftest import cli, feed

polygraphy = pytest.importorskip("polygraphy", reason="polygraphy is in the dev extra")
# The console script sits beside the interpreter (the venv's bin/), which need not be on PATH:
# `python -m polygraphy` does not work, the package has no __main__.
_BESIDE = Path(sys.executable).parent / "polygraphy"
POLYGRAPHY = [str(_BESIDE)] if _BESIDE.exists() else [shutil.which("polygraphy") or "polygraphy"]


@pytest.fixture(scope="module")
def artifacts(
    untrained_checkpoint: Path, exported_onnx: Path, av_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("polygraphy")
    paths = {"fp32": work / "m.onnx", "fp16": work / "m.fp16.onnx", "int8": work / "m.int8.onnx"}
    shutil.copyfile(exported_onnx, paths["fp32"])
    cli("export", untrained_checkpoint, "-o", paths["fp16"], "--precision", "fp16", cache=work)
    cli(
        "calibrate", paths["fp32"], av_corpus, "-o", paths["int8"], "--samples", "6", "--method", "minmax",
        "--actors", "1001,1002", "--eval-actors", "1003", "--max-drop", "100", cache=work,
    )  # fmt: skip
    return paths


def run_polygraphy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*POLYGRAPHY, *map(str, args)], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize("name", ["fp32", "fp16", "int8"])
def test_polygraphy_inspects_every_artifact(artifacts: dict[str, Path], name: str) -> None:
    proc = run_polygraphy("inspect", "model", artifacts[name])
    text = proc.stdout + proc.stderr
    contract = ("audio", "video", "present", "audio_shift", "logits", "audio_logits", "video_logits", "audio_embedding")
    for tensor in contract:
        assert tensor in text, text[-2000:]
    if name == "int8":
        proc = run_polygraphy("inspect", "model", artifacts[name], "--show", "layers")
        assert "QuantizeLinear" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["fp32", "int8"])
def test_polygraphy_onnxruntime_agrees_with_edgefusion(artifacts: dict[str, Path], name: str, tmp_path: Path) -> None:
    from polygraphy.comparator import RunResults
    from polygraphy.json import save_json

    x = feed(1, seed=7)
    x["audio_shift"] = np.random.default_rng(7).standard_normal((1, 128)).astype(np.float32)  # polygraphy feeds all
    inputs, outputs = tmp_path / "inputs.json", tmp_path / "outputs.json"
    save_json([x], inputs)
    run_polygraphy("run", artifacts[name], "--onnxrt", "--load-inputs", inputs, "--save-outputs", outputs)
    results = RunResults.load(str(outputs))
    [(runner_name, iterations)] = list(results.items())
    assert "onnxrt" in runner_name
    theirs = iterations[0]
    with open_runner(artifacts[name]) as runner:
        ours = runner.infer(x)
    for k in ("logits", "audio_logits", "video_logits", "audio_embedding"):
        np.testing.assert_allclose(np.asarray(theirs[k]), ours[k], atol=1e-5, rtol=0)


def test_polygraphy_tensorrt_agrees_with_onnxruntime(artifacts: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT not installed (needs an NVIDIA GPU)")
    run_polygraphy("run", artifacts["fp32"], "--trt", "--onnxrt", "--atol", "1e-3", "--rtol", "1e-3")
