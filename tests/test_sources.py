"""Input URIs, the audio ring, and file replays (audio and video) on real WAV and mp4 files."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soxr

from edgefusion.runtime.audio_sources import AudioRing, FileAudioSource
from edgefusion.runtime.clock import Clock, ManualClock
from edgefusion.runtime.source_uri import SourceError, split_uri
from edgefusion.runtime.sources import open_audio, open_video
from edgefusion.runtime.video_sources import (
    CAMERA_READ_FAILURES,
    END_GRACE_SECONDS,
    CaptureVideoSource,
    FileVideoSource,
    csi_pipeline,
    opencv_has_gstreamer,
)
from tests.conftest import tone, write_wav

SR = 16000
VIDEO_FPS, VIDEO_FRAMES, VIDEO_W, VIDEO_H = 10, 20, 64, 48
LEVEL_STEP = 10  # frame i is a flat image of gray level i * LEVEL_STEP (survives mp4v compression)


# ---- the ring buffer ------------------------------------------------------------------------


def test_ring_is_zero_padded_before_the_stream_began() -> None:
    ring = AudioRing(8)
    samples, t = ring.latest(5)
    assert samples.dtype == np.float32 and samples.shape == (5,)
    assert not samples.any() and math.isnan(t)
    ring.write(np.array([1, 2, 3], np.float32), t=0.5)
    samples, t = ring.latest(5)
    np.testing.assert_array_equal(samples, [0, 0, 1, 2, 3])
    assert t == 0.5


def test_ring_wraps_around_and_stays_exact() -> None:
    ring = AudioRing(10)
    stream = np.arange(1, 101, dtype=np.float32)
    pos = 0
    for i, size in enumerate([3, 7, 4, 9, 1, 6, 8, 5, 10, 2, 3, 7, 4, 9, 1, 6, 8]):  # crosses the end many times
        ring.write(stream[pos : pos + size], t=float(i))
        pos += size
        for n in (0, 1, 4, 10):
            samples, t = ring.latest(n)
            want = stream[max(0, pos - n) : pos]
            np.testing.assert_array_equal(samples[n - len(want) :], want)
            assert not samples[: n - len(want)].any()
            assert t == float(i)
    assert ring.written == pos


def test_ring_keeps_the_newest_of_a_block_longer_than_itself() -> None:
    ring = AudioRing(4)
    ring.write(np.arange(1, 3, dtype=np.float32), 0.0)
    ring.write(np.arange(10, 17, dtype=np.float32), 1.0)  # 7 samples into a ring of 4
    np.testing.assert_array_equal(ring.latest(4)[0], [13, 14, 15, 16])
    assert ring.written == 9
    ring.write(np.array([20], np.float32), 2.0)
    np.testing.assert_array_equal(ring.latest(3)[0], [15, 16, 20])


def test_ring_refuses_a_window_longer_than_its_capacity() -> None:
    with pytest.raises(ValueError, match=r"n must be in \[0, 4\]"):
        AudioRing(4).latest(5)


def test_ring_returns_copies() -> None:
    ring = AudioRing(4)
    ring.write(np.ones(4, np.float32), 0.0)
    samples, _ = ring.latest(4)
    samples[:] = 7
    assert ring.latest(4)[0].tolist() == [1, 1, 1, 1]


# ---- file audio replay ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def speechlike_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of a noisy tone at 16 kHz (an offset of one sample shows); the first sample is not 0."""
    rng = np.random.default_rng(3)
    data = tone(3.0, 310.0) + 0.2 * rng.standard_normal(3 * SR).astype(np.float32)
    data[0] = 0.5
    return write_wav(tmp_path_factory.mktemp("wav") / "clip.wav", np.clip(data, -1, 1).astype(np.float32))


def test_file_replay_with_a_manual_clock_is_exact(speechlike_wav: Path) -> None:
    clock = ManualClock()
    source = open_audio(f"file://{speechlike_wav}", clock)
    assert isinstance(source, FileAudioSource)
    decoded = source.samples
    n = 8000
    with source:
        for t in (0.0, 0.1, 0.25, 0.5, 0.73, 1.0, 1.5, 2.0, 2.999):
            clock.advance_to(t)
            snap = source.snapshot(n)
            end = math.floor(t * SR + 1e-6)
            want = decoded[max(0, end - n) : end]
            assert snap.samples.shape == (n,) and snap.samples.dtype == np.float32
            np.testing.assert_array_equal(snap.samples[n - len(want) :], want)
            assert not snap.samples[: n - len(want)].any()
            assert snap.live and not source.ended
            assert snap.age == (pytest.approx(t - end / SR, abs=1e-9) if end else math.inf)  # inf: no sample yet
        clock.advance_to(3.5)
        snap = source.snapshot(n)
        assert source.ended and not snap.live
        np.testing.assert_array_equal(snap.samples, decoded[-n:])
        assert snap.age == pytest.approx(0.5, abs=1e-6)


def test_file_replay_is_deterministic_whatever_the_hop(speechlike_wav: Path) -> None:
    """Asking often or rarely gives the same window at the same time."""
    results = []
    for hops in ((0.5, 1.0, 1.7), (1.7,)):
        clock = ManualClock()
        with FileAudioSource(speechlike_wav, clock) as source:
            for t in hops:
                clock.advance_to(t)
                snap = source.snapshot(16000)
        results.append(snap.samples)
    np.testing.assert_array_equal(results[0], results[1])


def test_8k_stereo_file_comes_out_16k_mono(tmp_path: Path) -> None:
    left = tone(2.0, 440.0, sr=8000)
    right = tone(2.0, 440.0, sr=8000, seed=1)
    path = write_wav(tmp_path / "stereo8k.wav", np.stack([left, right], axis=1), sr=8000)
    clock = ManualClock()
    with open_audio(f"file://{path}", clock) as source:
        assert len(source.samples) == pytest.approx(2 * SR, abs=2)
        clock.advance_to(1.5)
        snap = source.snapshot(SR)
    mono16 = soxr.resample((left + right) / 2, 8000, SR, quality="HQ")
    np.testing.assert_allclose(snap.samples, mono16[SR // 2 : SR // 2 + SR], atol=2e-4)  # PCM_16 rounding
    spectrum = np.abs(np.fft.rfft(snap.samples))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 s window: bin = Hz


def test_real_time_file_replay_delivers_at_wall_clock_pace(speechlike_wav: Path) -> None:
    clock = Clock()
    source = open_audio(str(speechlike_wav), clock)  # a bare path is a file
    with source:
        clock.sleep_until(1.0)
        snap = source.snapshot(2 * SR)
        start = int(np.argmax(snap.samples != 0))  # zeros before the replay began
        delivered = 2 * SR - start
        assert snap.live
        assert 0 <= snap.age < 0.25
        assert 0.8 * SR <= delivered <= 1.2 * SR
        np.testing.assert_array_equal(snap.samples[start:], source.samples[:delivered])
        clock.sleep_until(3.3)
        snap = source.snapshot(SR)
        assert source.ended and not snap.live
        np.testing.assert_array_equal(snap.samples, source.samples[-SR:])


# ---- bad URIs -------------------------------------------------------------------------------


def _assert_one_line(err: pytest.ExceptionInfo[SourceError], *words: str) -> None:
    text = str(err.value)
    assert "\n" not in text and text.strip() == text
    for word in words:
        assert word in text


def test_uri_parsing() -> None:
    assert split_uri("none") == ("none", "")
    assert split_uri("NONE") == ("none", "")
    assert split_uri("mic://default") == ("mic", "default")
    assert split_uri("file:///abs/clip.wav") == ("file", "/abs/clip.wav")
    assert split_uri("clip.wav") == ("file", "clip.wav")
    assert split_uri("gst://videotestsrc ! appsink") == ("gst", "videotestsrc ! appsink")


def test_none_opens_nothing() -> None:
    assert open_audio("none", ManualClock()) is None
    assert open_video("none", ManualClock()) is None


@pytest.mark.parametrize("opener", [open_audio, open_video])
def test_unknown_scheme(opener) -> None:
    with pytest.raises(SourceError) as err:
        opener("foo://x", Clock())
    _assert_one_line(err, "foo://x", "unknown", "'foo'")


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        open_audio("file://missing.wav", Clock())
    _assert_one_line(err, "missing.wav", "no such file")
    with pytest.raises(SourceError) as err:
        open_video(f"file://{tmp_path / 'missing.mp4'}", Clock())
    _assert_one_line(err, "missing.mp4", "no such file")


def test_undecodable_files(tmp_path: Path) -> None:
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(SourceError) as err:
        open_audio(f"file://{bad}", Clock())
    _assert_one_line(err, "noise.wav", "not a readable audio file")
    with pytest.raises(SourceError) as err:
        open_video(f"file://{bad}", Clock())
    _assert_one_line(err, "noise.wav", "cannot open")


def test_absent_microphone() -> None:
    with pytest.raises(SourceError) as err:
        source = open_audio("mic://99", Clock())
        source.start()
    _assert_one_line(err, "mic://99", "no such audio input device")
    with pytest.raises(SourceError) as err:
        open_audio("mic://no-such-microphone-xyz", Clock()).start()
    _assert_one_line(err, "mic://no-such-microphone-xyz")


def test_microphone_refuses_a_manual_clock() -> None:
    with pytest.raises(SourceError) as err:
        open_audio("mic://default", ManualClock())
    _assert_one_line(err, "real-time clock")


@pytest.mark.skipif(Path("/dev/video42").exists(), reason="this machine has a /dev/video42")
def test_absent_camera(capfd: pytest.CaptureFixture[str]) -> None:
    source = open_video("camera://42", Clock())
    with pytest.raises(SourceError) as err:
        source.start()
    _assert_one_line(err, "camera://42", "cannot open camera")
    assert "ERROR" not in capfd.readouterr().err  # OpenCV's own log lines stay quiet: ours is the one
    source.stop()  # harmless after a failed start
    with pytest.raises(SourceError) as err:
        open_video("v4l2:///dev/video42", Clock())
    _assert_one_line(err, "/dev/video42")
    with pytest.raises(SourceError) as err:
        open_video("camera://front", Clock())
    _assert_one_line(err, "camera://N")


@pytest.mark.skipif(opencv_has_gstreamer(), reason="this OpenCV has GStreamer")
@pytest.mark.parametrize("uri", ["gst://videotestsrc ! videoconvert ! appsink", "csi://0"])
def test_gstreamer_uris_without_gstreamer(uri: str) -> None:
    with pytest.raises(SourceError) as err:
        open_video(uri, Clock())
    _assert_one_line(err, uri, "without GStreamer")


def test_gstreamer_support_is_read_from_the_build_information() -> None:
    found = re.search(r"^\s*GStreamer:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    assert found is not None
    assert opencv_has_gstreamer() == (found.group(1).upper() == "YES")


def test_csi_pipeline_string() -> None:
    assert csi_pipeline() == (
        "nvarguscamerasrc sensor-id=0 ! "
        "video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1,format=NV12 ! "
        "nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1"
    )
    custom = csi_pipeline(1, 1920, 1080, 60, flip_method=2)
    assert custom.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "width=1920,height=1080,framerate=60/1" in custom and "flip-method=2" in custom
    elements = [part.strip().split()[0] for part in custom.split("!")]
    assert elements == [
        "nvarguscamerasrc",
        "video/x-raw(memory:NVMM),width=1920,height=1080,framerate=60/1,format=NV12",
        "nvvidconv",
        "video/x-raw,format=BGRx",
        "videoconvert",
        "video/x-raw,format=BGR",
        "appsink",
    ]


# ---- video file replay ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VIDEO_FRAMES flat gray frames at VIDEO_FPS; frame i has level i * LEVEL_STEP."""
    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (VIDEO_W, VIDEO_H))
    assert writer.isOpened()
    for i in range(VIDEO_FRAMES):
        writer.write(np.full((VIDEO_H, VIDEO_W, 3), i * LEVEL_STEP, np.uint8))
    writer.release()
    return path


def decoded_index(frame_image: np.ndarray) -> int:
    """The frame number drawn into a frame's pixels."""
    return round(float(frame_image.mean()) / LEVEL_STEP)


def test_video_replay_with_a_manual_clock(numbered_video: Path) -> None:
    clock = ManualClock()
    source = open_video(f"file://{numbered_video}", clock)
    assert isinstance(source, FileVideoSource)
    assert source.fps == pytest.approx(VIDEO_FPS)
    assert source.latest() is None  # not started
    with source:
        for t in (0.0, 0.05, 0.1, 0.31, 0.35, 0.99, 1.0, 1.42, 1.9, 1.95):
            clock.advance_to(t)
            frame = source.latest()
            want = math.floor(t * VIDEO_FPS + 1e-6)
            assert frame is not None and frame.index == want, t
            assert decoded_index(frame.image) == want
            assert frame.t == pytest.approx(want / VIDEO_FPS)
            assert frame.image.shape == (VIDEO_H, VIDEO_W, 3) and frame.image.dtype == np.uint8
            assert not source.ended
        assert source.frames_read == VIDEO_FRAMES  # skipped frames are grabbed, not decoded
        clock.advance_to(VIDEO_FRAMES / VIDEO_FPS)  # the last frame's period is over
        frame = source.latest()
        assert source.ended and frame is not None and frame.index == VIDEO_FRAMES - 1
        clock.advance_to(VIDEO_FRAMES / VIDEO_FPS + END_GRACE_SECONDS + 0.01)
        assert source.latest() is None and source.ended
        assert source.errors == 0


def test_video_replay_in_real_time_keeps_only_the_newest_frame(numbered_video: Path) -> None:
    clock = Clock()
    with open_video(str(numbered_video), clock) as source:
        clock.sleep_until(0.75)
        frame = source.latest()
        expected = 0.75 * VIDEO_FPS
        assert frame is not None
        assert expected - 3 <= frame.index <= expected  # the newest due, not the first one queued
        assert decoded_index(frame.image) == frame.index
        assert 0 <= clock.now() - frame.t < 0.3
        time.sleep(0.001)
        assert source.latest().index >= frame.index
        clock.sleep_until(VIDEO_FRAMES / VIDEO_FPS + 0.1)
        last = source.latest()
        assert source.ended and last is not None and last.index == VIDEO_FRAMES - 1
        clock.sleep_until(VIDEO_FRAMES / VIDEO_FPS + END_GRACE_SECONDS + 0.1)
        assert source.latest() is None


def test_decode_all_replay_hands_over_every_frame(numbered_video: Path) -> None:
    clock = ManualClock()
    with open_video(f"file://{numbered_video}", clock) as source:
        source.decode_all = True
        clock.advance_to(0.55)
        frames = source.drain()
        assert [f.index for f in frames] == [0, 1, 2, 3, 4, 5]
        assert [decoded_index(f.image) for f in frames] == [0, 1, 2, 3, 4, 5]
        assert source.drain() == []
        clock.advance_to(0.7)
        assert [f.index for f in source.drain()] == [6, 7]
        assert source.latest().index == 7


def test_a_capture_that_stops_delivering_ends_without_stopping_the_run(numbered_video: Path) -> None:
    """A real cv2.VideoCapture whose reads start failing mid-run (here: a file read as fast as a
    camera would be, until it runs dry): errors are counted, the source ends, latest() goes None."""
    clock = Clock()
    with CaptureVideoSource("camera://test", clock, str(numbered_video)) as source:
        start = clock.now()
        while not source.ended and clock.now() - start < 5.0:
            clock.sleep_until(clock.now() + 0.01)
        assert source.ended
        assert source.frames_read == VIDEO_FRAMES
        assert source.errors == CAMERA_READ_FAILURES
        last = source.latest()
        assert last is not None and last.index == VIDEO_FRAMES - 1
        clock.sleep_until(clock.now() + END_GRACE_SECONDS + 0.05)
        assert source.latest() is None
