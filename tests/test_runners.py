"""One runner interface for every backend: lifecycle, feeds, batching, agreement between backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgefusion.runtime.runner import RunnerError, backend_for, open_runner
from tests.conftest import cli, feed


@pytest.fixture(scope="module")
def onnx_model(exported_onnx: Path) -> Path:
    return exported_onnx


def test_backend_from_the_artifact() -> None:
    assert backend_for("m.pt") == "torch"
    assert backend_for("m.int8.onnx") == "onnxruntime"
    assert backend_for("m.engine") == "tensorrt"
    assert backend_for("m.pt", "torch") == "torch"
    assert backend_for("exported.model", "onnxruntime") == "onnxruntime"  # an unusual suffix, named backend
    with pytest.raises(RunnerError, match=r"m.int8.onnx: is an artifact for onnxruntime; backend tensorrt runs"):
        backend_for("m.int8.onnx", "tensorrt")  # and says `edgefusion build`, not "rebuild" over the ONNX
    with pytest.raises(RunnerError, match="unknown artifact type"):
        backend_for("m.tflite")
    with pytest.raises(RunnerError, match="unknown backend"):
        backend_for("m.onnx", "tvm")


def test_torch_and_onnxruntime_agree_and_batch_is_chunked(onnx_model: Path, untrained_checkpoint: Path) -> None:
    x = feed(5, seed=3)
    with open_runner(onnx_model, threads=1) as ort_runner, open_runner(untrained_checkpoint) as torch_runner:
        assert ort_runner.meta.batch == 1  # a fixed batch-1 graph runs batch 5 in chunks
        got, want = ort_runner.infer(x), torch_runner.infer(x)
        single = ort_runner.infer({k: v[2:3] for k, v in x.items()})
    for k in ("logits", "audio_logits", "video_logits"):
        assert got[k].shape == (5, 6) and got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], want[k], atol=1e-4)
    np.testing.assert_allclose(single["logits"][0], got["logits"][2], atol=1e-6)


def test_lifecycle_and_feed_checks(onnx_model: Path) -> None:
    runner = open_runner(onnx_model)
    with pytest.raises(RuntimeError, match="outside `with`"):
        runner.infer(feed(1))
    with runner:
        assert runner.active
        x = feed(1)
        with pytest.raises(RunnerError, match="dtype"):
            runner.infer(dict(x, video=x["video"].astype(np.float32)))
        with pytest.raises(RunnerError, match="shape"):
            runner.infer(dict(x, audio=x["audio"][:, :16000]))
        with pytest.raises(RunnerError, match="lacks present"):
            runner.infer({"audio": x["audio"], "video": x["video"]})
    assert not runner.active and runner.session is None


def test_missing_execution_provider_is_a_clear_error(onnx_model: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA; the error path needs one without")
    with pytest.raises(RunnerError, match="lacks the cuda execution provider"):
        open_runner(onnx_model, providers=("cuda",))


def test_eval_scores_an_onnx_like_its_checkpoint(
    onnx_model: Path, untrained_checkpoint: Path, av_corpus: Path, tmp_path: Path
) -> None:
    import json

    pt_json, onnx_json = tmp_path / "pt.json", tmp_path / "onnx.json"
    cli("eval", untrained_checkpoint, av_corpus, "--json", pt_json, cache=tmp_path)
    proc = cli("eval", onnx_model, av_corpus, "--json", onnx_json, cache=tmp_path)
    assert "onnxruntime" in proc.stderr
    a, b = json.loads(pt_json.read_text()), json.loads(onnx_json.read_text())
    for name in ("fused", "audio", "video"):
        assert a[name]["confusion"] == b[name]["confusion"], name


def test_a_feed_without_video_is_an_audio_only_feed(onnx_model: Path, untrained_checkpoint: Path) -> None:
    """Audio-only clips: video may be left out; PyTorch then skips the video path, ONNX Runtime is
    fed blank frames; both give what blank frames marked absent give. Marked present, it is an error."""
    x = feed(3, seed=5)
    x["present"][:, 1] = 0.0
    blank = dict(x, video=np.zeros_like(x["video"]))
    audio_only = {k: v for k, v in x.items() if k != "video"}
    with open_runner(onnx_model, threads=1) as ort_runner, open_runner(untrained_checkpoint) as torch_runner:
        assert torch_runner.skips_absent_video and not ort_runner.skips_absent_video
        for runner in (ort_runner, torch_runner):
            got, want = runner.infer(audio_only), runner.infer(blank)
            for k in ("logits", "audio_logits", "audio_embedding"):
                np.testing.assert_allclose(got[k], want[k], atol=1e-5)
        with pytest.raises(RunnerError, match="marks video present in some rows but gives no video"):
            torch_runner.infer(dict(audio_only, present=np.ones_like(x["present"])))
