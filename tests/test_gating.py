"""What a decision may rest on: only the modalities a model learned, and (with the VAD) only speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgefusion.runtime.runner import open_runner
from edgefusion.zoo import shipped
from tests.conftest import cli, feed, one_line_error, write_wav
from tests.test_pipeline import face_video
from tests.test_zoo import ANGRY, EXAMPLES


def test_an_untrained_modality_cannot_change_the_logits(exported_onnx: Path) -> None:
    """The shipped model never saw a face: any video, marked present or not, gives the same logits.
    The same probe on a model that knows both modalities does move them (the probe can fail)."""
    rng = np.random.default_rng(0)
    base = feed(2)
    other = {**base, "video": rng.integers(0, 256, base["video"].shape, dtype=np.uint8)}
    audio_only = {"audio": base["audio"], "present": np.array([[1, 0], [1, 0]], dtype=np.float32)}
    with open_runner(shipped("int8-cpu")) as runner:
        assert runner.trained == ("audio",) and runner.masked == ("video",)
        logits = [runner.infer(f)["logits"] for f in (base, other, audio_only)]
    np.testing.assert_array_equal(logits[0], logits[1])
    np.testing.assert_array_equal(logits[0], logits[2])
    with open_runner(exported_onnx) as runner:  # saved without a record: taken to know both
        assert runner.masked == ()
        assert not np.allclose(runner.infer(base)["logits"], runner.infer(other)["logits"])


def test_run_says_it_masks_the_video_and_never_marks_it_present(tmp_path: Path) -> None:
    mp4 = face_video(tmp_path / "face.mp4", 3.7)
    out = tmp_path / "events.jsonl"
    proc = cli("run", "--audio", f"file://{ANGRY}", "--video", f"file://{mp4}", "--fast", "--print", "--jsonl", out)
    assert "trained on audio only: its video path is masked and cannot move a decision" in proc.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(e["box"] for e in events)  # the face is tracked (for the view) ...
    assert not any(e["present"]["video"] for e in events)  # ... and never fed as present


def test_eval_scores_with_the_same_gating(tmp_path: Path) -> None:
    """`eval --vad` on real clips: a silent clip has no decision and is a miss, in no confusion column."""
    corpus = tmp_path / "ravdess" / "Actor_08"
    corpus.mkdir(parents=True)
    for clip in EXAMPLES.glob("*-08.wav"):
        shutil.copy(clip, corpus / clip.name)
    write_wav(corpus / "03-01-04-01-02-01-08.wav", np.zeros(48000, dtype=np.float32))  # "sad", in silence
    report = tmp_path / "eval.json"
    proc = cli("eval", shipped("int8-cpu"), tmp_path / "ravdess", "--vad", "--json", report, cache=tmp_path)
    assert "1 clip without a voiced window, scored as misses" in proc.stdout
    fused = json.loads(report.read_text())["fused"]
    assert fused["n"] == 3 and fused["undecided"] == 1
    assert sum(map(sum, fused["confusion"])) == 2 and fused["accuracy"] <= 2 / 3
    plain = cli("eval", shipped("int8-cpu"), tmp_path / "ravdess", "--json", report, cache=tmp_path)
    assert "without a voiced window" not in plain.stdout
    assert json.loads(report.read_text())["fused"]["undecided"] == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--adapt", "--no-vad"), "--adapt averages the voiced windows, which the VAD picks"),
        (("--audio", "none", "--video", "camera://0", "--vad"), "--vad listens to the audio, and --audio is none"),
        (("--audio", "none", "--video", "camera://0", "--adapt"), "--adapt centres the voice, and --audio is none"),
        (("--no-vad", "--vad-backend", "webrtc"), "--vad-backend webrtc with --no-vad"),
        (("--vad-backend", "rnnoise"), "unknown VAD 'rnnoise'"),
        (("--model", "a.onnx", "b.onnx"), "two artifacts"),
    ],
)
def test_combinations_that_make_no_sense_are_refused(args: tuple[str, ...], fragment: str) -> None:
    full = ("--audio", f"file://{ANGRY}", "--fast", *args) if "--audio" not in args else ("--fast", *args)
    if "--fast" in full and "camera://0" in full:
        full = tuple(a for a in full if a != "--fast")
    one_line_error(cli("run", *full, check=False), fragment)


def test_eval_refuses_a_vad_backend_without_vad(tmp_path: Path) -> None:
    proc = cli("eval", shipped("int8-cpu"), tmp_path, "--vad-backend", "webrtc", check=False)
    one_line_error(proc, "--vad-backend webrtc without --vad")
