"""A device that only runs artifacts needs no torch: every verb on an .onnx, in processes without it.

JetPack ships TensorRT and ONNX Runtime, and torch only as a separate, large wheel. Each command
below runs in an interpreter that cannot see torch: a ``sitecustomize`` on ``PYTHONPATH`` swaps
site-packages for a folder of links to everything in it except torch's own packages. There,
``import torch`` fails with ``ModuleNotFoundError`` and ``importlib.util.find_spec("torch")`` is
None, as where torch was never installed. (A stand-in ``torch`` package that raises on import is
not enough: libraries probe with ``find_spec`` first, and onnxruntime 1.23's ``tools`` package,
which its quantization imports, then imports what it found.) Any import of torch on these paths,
in the command or in a process it starts, fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import cli, one_line_error

NOTHING = {"audio": False, "video": False}  # an event's ``present`` when nothing was there to decide on
TORCH_PACKAGES = ("torch", "functorch", "torchgen")  # what the torch wheel puts in site-packages
SWAP_SITE = """import os
import sys

# site-packages -> the same without torch (written by tests/test_without_torch.py)
FARMS = {farms!r}
sys.path[:] = [FARMS.get(os.path.realpath(p), p) for p in sys.path]
"""


def _is_torch(name: str) -> bool:
    return name in TORCH_PACKAGES or (name.startswith("torch-") and name.endswith(".dist-info"))


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a process's environment needs for torch to be absent (its own clip cache too)."""
    work = tmp_path_factory.mktemp("no-torch")
    farms = {}
    for i, real in enumerate(sorted({os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")})):
        farm = work / f"site-{i}"
        farm.mkdir()
        for entry in Path(real).iterdir():
            if not _is_torch(entry.name):
                (farm / entry.name).symlink_to(entry)
        farms[real] = str(farm)
    (work / "hide").mkdir()
    (work / "hide" / "sitecustomize.py").write_text(SWAP_SITE.format(farms=farms))
    path = os.pathsep.join(p for p in (str(work / "hide"), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "XDG_CACHE_HOME": str(work / "cache")}


@pytest.fixture(scope="module")
def onnx_model(untrained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained network with a training reference, so that speaker adaptation runs too."""
    from edgefusion.model.checkpoint import load_checkpoint, save_checkpoint

    work = tmp_path_factory.mktemp("no-torch-model")
    model, _ = load_checkpoint(untrained_checkpoint)
    checkpoint = save_checkpoint(work / "model.pt", model, reference=[0.1] * model.cfg.embed_dim)
    cli("export", checkpoint, "-o", work / "model.onnx")  # export itself needs torch
    return work / "model.onnx"


def test_torch_is_hidden(no_torch: dict[str, str]) -> None:
    env = dict(os.environ) | no_torch
    probe = "import importlib.util, onnxruntime, edgefusion; print(importlib.util.find_spec('torch'))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "None", proc.stderr  # the rest is still there
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def test_artifact_verbs_run_without_torch(
    no_torch: dict[str, str], onnx_model: Path, av_corpus: Path, tmp_path: Path
) -> None:
    proc = cli("info", onnx_model, env=no_torch)
    assert "audio_shift" in proc.stdout and "logits" in proc.stdout

    scores = tmp_path / "eval.json"
    cli("eval", onnx_model, av_corpus, "--actors", "1003", "--adapt", "--json", scores, env=no_torch)
    report = json.loads(scores.read_text())
    assert report["fused"]["n"] == 6 and report["speaker_adapted"]["fused"]["n"] == 6

    wav = next((av_corpus / "AudioWAV").glob("1003_*_HAP_*.wav"))
    mp4 = (av_corpus / "VideoFlash" / wav.name).with_suffix(".mp4")
    events = tmp_path / "events.jsonl"
    run = ("run", onnx_model, "--audio", f"file://{wav}", "--video", f"file://{mp4}", "--fast", "--jsonl", events)
    cli(*run, env=no_torch)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert any(e["label"] for e in lines)  # the VAD gates the audio; a face decides alone between words
    assert all(e["label"] in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD") or e["present"] == NOTHING for e in lines)

    bench = tmp_path / "bench.json"
    cli(
        "bench", onnx_model, "--runs", "5", "--warmup", "1", "--threads", "1",
        "--data", av_corpus, "--actors", "1003", "--json", bench, env=no_torch,
    )  # fmt: skip
    (row,) = json.loads(bench.read_text())["artifacts"]
    assert row["latency"]["runs"] == 5 and row["clips"] == 6
    assert row["memory"]["peak_rss_mb"] > row["memory"]["base_rss_mb"] > 0  # the probe process ran too

    int8, calib = tmp_path / "model.int8.onnx", tmp_path / "model.calib"
    cli(
        "calibrate", onnx_model, av_corpus, "-o", int8, "--target", "cpu", "--method", "minmax",
        "--samples", "8", "--actors", "1001,1002", "--eval-actors", "1003", "--max-drop", "100",
        "--calib-cache", calib, env=no_torch,
    )  # fmt: skip
    assert int8.stat().st_size > 0 and calib.read_text().startswith("TRT-")


def test_the_shipped_model_decides_on_speech_without_torch(no_torch: dict[str, str], tmp_path: Path) -> None:
    """The device path as a user first meets it: no artifact named, the VAD and adaptation on."""
    from tests.test_zoo import ANGRY

    events = tmp_path / "events.jsonl"
    proc = cli("run", "--audio", f"file://{ANGRY}", "--fast", "--print", "--jsonl", events, env=no_torch)
    assert "speech.int8.onnx, the shipped CPU INT8 model" in proc.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert lines[0]["label"] is None and lines[0]["present"] == NOTHING  # the clip opens in silence
    decided = [e for e in lines if e["label"] is not None]
    assert decided and all(e["present"] == {"audio": True, "video": False} and e["speech"] >= 0.3 for e in decided)
    assert lines[-1]["adaptation"][0] == len(decided)  # every voiced window joined the speaker's mean


def test_what_needs_torch_says_so_in_one_line(
    no_torch: dict[str, str], untrained_checkpoint: Path, av_corpus: Path
) -> None:
    for args in (("info", untrained_checkpoint), ("eval", untrained_checkpoint, av_corpus), ("train", av_corpus)):
        one_line_error(cli(*args, check=False, env=no_torch), "torch is not installed", ".onnx")
    proc = cli("doctor", check=False, env=no_torch)
    assert proc.returncode == 1  # torch is required for the whole toolkit
    assert ".onnx and .engine artifacts run without it" in proc.stdout
