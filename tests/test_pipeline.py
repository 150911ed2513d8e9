"""`edgefusion run` end to end: real files and a real PulseAudio microphone through the whole pipeline."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgefusion.labels import CLASSES
from tests.conftest import EDGEFUSION, RAVDESS, cli, needs_ravdess, one_line_error, tone, write_wav

CLIP = RAVDESS / "Actor_13" / "03-01-05-01-01-01-13.wav"  # angry
STAGES = {"audio_age", "frame_age", "vad", "preprocess", "inference", "postprocess", "pipeline", "total"}
NO_VAD = "--no-vad"  # tones are not speech: tests of the pipeline's timing and sources hear them ungated


@pytest.fixture(scope="module")
def model(exported_onnx: Path) -> Path:
    return exported_onnx


def face_video(path: Path, seconds: float, fps: int = 15) -> Path:
    """A real photograph's face (skimage's astronaut) drifting over a grey frame, mp4v."""
    from skimage import data

    face = cv2.cvtColor(cv2.resize(data.astronaut(), (200, 200)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (480, 360))
    for i in range(round(seconds * fps)):
        frame = np.full((360, 480, 3), 100, dtype=np.uint8)
        x = 40 + 4 * i % 200
        frame[80:280, x : x + 200] = face
        writer.write(frame)
    writer.release()
    return path


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fast_replay_of_voice_and_face_is_complete_and_deterministic(model: Path, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voice.wav", tone(3.0, 180))
    mp4 = face_video(tmp_path / "face.mp4", 3.0)
    runs = []
    for i in range(2):
        out = tmp_path / f"events{i}.jsonl"
        proc = cli("run", model, "--audio", f"file://{wav}", "--video", f"file://{mp4}", "--fast", "--print",
                   "--jsonl", out, NO_VAD)  # fmt: skip
        runs.append(events(out))
    first = runs[0]
    assert len(first) == 12  # 3 s at the default 0.25 s hop
    assert [e["t"] for e in first] == pytest.approx([0.25 * (i + 1) for i in range(12)])
    for e in first:
        assert set(e["latency_ms"]) == STAGES and e["skipped"] == 0
        assert abs(sum(e["probs"].values()) - 1) < 1e-3 and e["label"] == max(e["probs"], key=e["probs"].get)
        assert e["present"]["audio"]
    assert sum(e["present"]["video"] for e in first) >= 10  # the face is found and tracked
    assert all(e["box"] is not None for e in first if e["present"]["video"])
    strip = [[{k: v for k, v in e.items() if k != "latency_ms"} for e in run] for run in runs]
    assert strip[0] == strip[1]  # --fast replays are exact
    assert "majority label" in proc.stdout


def test_video_ending_mid_run_leaves_audio_running(model: Path, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voice.wav", tone(3.0, 200))
    mp4 = face_video(tmp_path / "short.mp4", 1.0)
    out = tmp_path / "events.jsonl"
    cli("run", model, "--audio", f"file://{wav}", "--video", f"file://{mp4}", "--fast", "--print", "--jsonl", out,
        NO_VAD)  # fmt: skip
    ev = events(out)
    assert len(ev) == 12 and all(e["present"]["audio"] for e in ev)
    assert any(e["present"]["video"] for e in ev[:3])
    assert not any(e["present"]["video"] for e in ev[-6:])  # the video ended; audio went on


def test_real_time_run_keeps_up_and_saves_a_video(model: Path, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voice.wav", tone(2.5, 220))
    mp4 = face_video(tmp_path / "face.mp4", 2.5)
    out, saved = tmp_path / "events.jsonl", tmp_path / "overlay.mp4"
    started = time.monotonic()
    cli("run", model, "--audio", f"file://{wav}", "--video", f"file://{mp4}", "--print", "--jsonl", out,
        "--save-video", saved, "--threads", "1")  # fmt: skip
    assert time.monotonic() - started >= 2.0  # real time, not --fast
    ev = events(out)
    assert ev and ev[-1]["skipped"] == 0
    cap = cv2.VideoCapture(str(saved))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) >= len([e for e in ev if e["box"]]) - 1


def test_duration_stops_the_run(model: Path, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voice.wav", tone(4.0, 200))
    out = tmp_path / "events.jsonl"
    proc = cli("run", model, "--audio", f"file://{wav}", "--video", "none", "--fast", "--duration", "1",
               "--jsonl", out)  # fmt: skip
    ev = events(out)
    assert len(ev) == 4 and not any(e["present"]["video"] for e in ev)
    # the live view (no --print), piped: its last frame ends its line before the summary table
    assert "latency per stage (ms)" in proc.stdout.splitlines()


def test_bad_sources_fail_before_the_run(model: Path, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voice.wav", tone(1.0, 200))
    cases = [
        (("--audio", "foo://x"), "foo://x"),
        (("--audio", f"file://{tmp_path}/missing.wav"), "missing.wav"),
        (("--audio", f"file://{wav}", "--video", f"file://{tmp_path}/missing.mp4"), "missing.mp4"),
        (("--audio", "none", "--video", "none"), "both none"),
        (("--audio", "mic://default", "--fast"), "--fast"),
        (("--audio", "foo://x", "--fast"), "unknown audio source scheme 'foo'"),  # the scheme, not --fast
        (("--audio", f"file://{wav}", "--hop", "100"), "--hop 100 s is longer than the model's 2 s window"),
        (("--audio", f"file://{wav}", "--hop", "0"), "--hop"),
        (("--audio", f"file://{wav}", "--threads", "0"), "--threads must be at least 1"),
        (("--audio", f"file://{wav}", "--save-video", tmp_path / "v.mp4"), "no video to save"),
        (("--audio", f"file://{wav}", "--jsonl", tmp_path), "is a folder: give a file name"),
        (("--audio", f"file://{wav}", "--backend", "tensorrt"), "backend tensorrt runs .engine"),
    ]
    for args, fragment in cases:
        one_line_error(cli("run", model, *args, "--print", check=False), fragment)


@needs_ravdess
def test_microphone_events_match_the_file_events(
    model_ravdess: Path,
    pulse_server: dict[str, str],
    tmp_path: Path,
) -> None:
    """A RAVDESS clip played into PulseAudio and recorded by `run --audio mic://default` scores like the file."""
    import soundfile as sf

    seconds = sf.info(CLIP).duration
    file_events, mic_events = tmp_path / "file.jsonl", tmp_path / "mic.jsonl"
    cli("run", model_ravdess, "--audio", f"file://{CLIP}", "--fast", "--print", "--jsonl", file_events, NO_VAD)
    lead = 1.0
    cmd = [*EDGEFUSION, "run", str(model_ravdess), "--audio", "mic://default", "--duration", f"{seconds + lead:.2f}",
           "--print", "--jsonl", str(mic_events), "--smooth", "0.5", NO_VAD]  # fmt: skip
    run = subprocess.Popen(cmd, env=pulse_server, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(lead)
    subprocess.run(["paplay", "--device=vsink", str(CLIP)], env=pulse_server, check=True, timeout=30)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    f_ev, m_ev = events(file_events), events(mic_events)
    assert all(e["present"]["audio"] for e in m_ev) and m_ev[-1]["overflows"] == 0
    f_ev = [e for e in f_ev if e["label"] is not None]  # after the file's end there is nothing to decide on

    def majority(ev: list[dict]) -> str:
        labels = [e["label"] for e in ev]
        return max(set(labels), key=labels.count)

    speech = [e for e in m_ev if e["t"] >= lead + 0.5]  # hops whose window holds the clip
    assert majority(speech) == majority(f_ev)
    f_mean = np.mean([list(e["raw"]["fused"].values()) for e in f_ev], axis=0)
    m_mean = np.mean([list(e["raw"]["fused"].values()) for e in speech], axis=0)
    print(f"mean fused probabilities, file {np.round(f_mean, 3)} vs microphone {np.round(m_mean, 3)}")
    assert np.abs(f_mean - m_mean).max() < 0.15


@pytest.fixture(scope="module")
def model_ravdess(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that has heard RAVDESS: 3 quick epochs on actors 1-4, exported (enough to give real labels)."""
    work = tmp_path_factory.mktemp("ravdess-model")
    ckpt = work / "m.pt"
    cli("train", RAVDESS, "--actors", "1-4", "--val-fraction", "0", "--epochs", "3", "--out", ckpt, cache=work)
    cli("export", ckpt, "-o", work / "m.onnx", "--data", RAVDESS, cache=work)
    return work / "m.onnx"


def test_eval_and_a_replay_feed_the_model_the_same_windows(model: Path, tmp_path: Path) -> None:
    """One windowing rule for training, eval and live runs: the window eval scores at [s, s + 2)
    and the one `run --fast` decides on at s + 2 hold the same audio and the same face crops
    (picked by timestamp across the window), so the model gives the same probabilities."""
    from edgefusion.artifact.metadata import read_metadata
    from edgefusion.data.corpus import scan_corpus
    from edgefusion.data.store import ClipStore
    from edgefusion.data.video import SAMPLE_FPS
    from edgefusion.data.windows import cut_window, scoring_starts
    from edgefusion.evaluate import collate
    from edgefusion.metrics import softmax
    from edgefusion.runtime.clock import ManualClock
    from edgefusion.runtime.face_stage import FaceStage, FaceThread
    from edgefusion.runtime.runner import open_runner
    from edgefusion.runtime.sources import open_audio, open_video

    corpus = tmp_path / "corpus"
    wav = write_wav(corpus / "AudioWAV" / "1001_DFA_ANG_XX.wav", tone(3.0, 180))
    (corpus / "VideoFlash").mkdir()
    # at the rate eval samples faces, so both see every frame; one face, so largest = tracked
    mp4 = face_video(corpus / "VideoFlash" / "1001_DFA_ANG_XX.mp4", 3.0, fps=round(SAMPLE_FPS))
    cfg = read_metadata(model).config
    (clip,) = scan_corpus(corpus)
    store = ClipStore(cfg, tmp_path / "cache")
    audio, track = store.audio(clip), store.faces(clip)
    starts = scoring_starts(3.0, cfg.window_seconds, 0.5)
    assert starts == [0.0, 0.5, 1.0]
    windows = [cut_window(audio, track, s, cfg) for s in starts]

    clock = ManualClock()
    with open_audio(f"file://{wav}", clock, cfg.sample_rate) as voice, open_video(f"file://{mp4}", clock) as video:
        faces = FaceThread(video, FaceStage(window_seconds=cfg.window_seconds), clock)
        for s, window in zip(starts, windows, strict=True):
            clock.advance_to(s + cfg.window_seconds)
            assert window.audio is not None and window.video is not None
            np.testing.assert_array_equal(voice.snapshot(cfg.window_samples).samples, window.audio)
            crops, _, _, _ = faces.snapshot(clock.now())
            assert crops is not None
            np.testing.assert_array_equal(crops, window.video)
            assert len({c.tobytes() for c in crops}) == 4  # four moments of the face, not one

    out = tmp_path / "events.jsonl"
    cli("run", model, "--audio", f"file://{wav}", "--video", f"file://{mp4}", "--fast", "--jsonl", out, NO_VAD)
    at = {round(e["t"], 2): e for e in events(out)}
    with open_runner(model) as runner:
        for s, window in zip(starts, windows, strict=True):
            want = softmax(runner.infer(collate([window], cfg, force_video=True).feed())["logits"][0])
            event = at[round(s + cfg.window_seconds, 2)]
            assert event["present"] == {"audio": True, "video": True}
            got = np.array([event["raw"]["fused"][c] for c in CLASSES])
            np.testing.assert_allclose(got, want, atol=1e-5)  # the event's figures are rounded to 1e-5
