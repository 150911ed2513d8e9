"""A real microphone without hardware: a PulseAudio null sink, recorded through PortAudio.

The session fixture starts a private PulseAudio server exactly as shared/notes/environment.md
describes (its own XDG_RUNTIME_DIR and HOME, a 16 kHz mono null sink ``vsink`` whose monitor is
the default source, a keep-alive stream). ``paplay`` plays a RAVDESS clip into ``vsink`` while
``MicSource`` records the monitor through sounddevice / PortAudio / ALSA's pulse plugin, and the
recording must match the clip. Skipped, with the reason, where PulseAudio is not installed or
does not come up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edgefusion.data.audio import load_audio
from edgefusion.runtime.audio_sources import MicSource, refresh_audio_devices
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.source_uri import SourceError
from edgefusion.runtime.sources import open_audio
from tests.conftest import RAVDESS, needs_ravdess, skip_microphone

SR = 16000
CLIP = RAVDESS / "Actor_13" / "03-01-05-01-01-01-13.wav"  # angry, "Kids are talking by the door"
LEAD_SECONDS = 0.3  # recorded before the clip starts
RECORD_EXTRA_SECONDS = 1.0  # the window is the clip plus this
RING_SECONDS = 10.0  # enough for the longest window these tests read
MIN_CORRELATION = 0.9  # environment.md measured 0.999 for this path


@pytest.fixture
def pulse_env(pulse_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process pointed at the private server, with PortAudio's device list re-scanned.

    PortAudio enumerates devices when it initialises (at ``import sounddevice``), so the
    environment is set first and then PortAudio is re-initialised; both are undone after.
    """
    import sounddevice as sd

    monkeypatch.setenv("XDG_RUNTIME_DIR", pulse_server["XDG_RUNTIME_DIR"])
    monkeypatch.setenv("HOME", pulse_server["HOME"])
    refresh_audio_devices()
    try:
        try:
            sd.query_devices(kind="input")
        except sd.PortAudioError as err:
            skip_microphone(
                f"PortAudio sees no default input through PulseAudio ({err}); is libasound2-plugins installed?"
            )
        yield pulse_server
    finally:
        monkeypatch.undo()
        refresh_audio_devices()


def wait_for(clock: Clock, condition: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = clock.now() + timeout
    while clock.now() < deadline:
        if condition():
            return True
        clock.sleep_until(clock.now() + step)
    return condition()


def aligned_correlation(recorded: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Normalised correlation of ``reference`` [R] with the best-aligned stretch of ``recorded``
    [S >= R], and that stretch's offset (samples) in ``recorded``."""
    size = len(recorded) + len(reference)
    nfft = 1 << (size - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(recorded, nfft) * np.conj(np.fft.rfft(reference, nfft)), nfft)
    lag = int(np.argmax(xcorr[: len(recorded) - len(reference) + 1]))  # reference wholly inside
    stretch = recorded[lag : lag + len(reference)]
    denom = np.linalg.norm(stretch) * np.linalg.norm(reference)
    return (float(stretch @ reference / denom) if denom > 0 else 0.0), lag


def record_clip(mic: MicSource, clock: Clock, env: dict[str, str], clip: Path) -> tuple[float, int, np.ndarray]:
    """Play ``clip`` into vsink while ``mic`` records; (correlation, offset, recording [n])."""
    reference = load_audio(clip, SR)
    seconds = len(reference) / SR + RECORD_EXTRA_SECONDS
    start = clock.now()
    clock.sleep_until(start + LEAD_SECONDS)
    played = subprocess.run(
        ["paplay", "--device=vsink", str(clip)], env=env, capture_output=True, text=True, timeout=30
    )
    assert played.returncode == 0, played.stderr
    clock.sleep_until(start + seconds)
    snap = mic.snapshot(round(seconds * SR))
    assert snap.live, "the microphone went down while recording"
    assert 0 <= snap.age < 0.25, f"the newest sample is {snap.age:.3f} s old"
    correlation, offset = aligned_correlation(snap.samples.astype(np.float64), reference.astype(np.float64))
    return correlation, offset, snap.samples


@needs_ravdess
def test_microphone_records_what_is_played(pulse_env: dict[str, str], record_property) -> None:
    clock = Clock()
    mic = open_audio("mic://default", clock, ring_seconds=RING_SECONDS)
    assert isinstance(mic, MicSource)
    with mic:
        assert mic.capture_rate == SR  # the pulse ALSA plugin takes 16 kHz directly
        assert wait_for(clock, lambda: mic.snapshot(SR).live, timeout=2.0)
        correlation, offset, recording = record_clip(mic, clock, pulse_env, CLIP)
    print(f"correlation {correlation:.4f} at offset {offset / SR:.3f} s, overflows {mic.overflows}")
    record_property("correlation", correlation)
    record_property("overflows", mic.overflows)
    assert correlation > MIN_CORRELATION
    assert offset > 0  # the lead-in silence was recorded before the clip: no samples lost at the start
    assert recording.dtype == np.float32
    assert mic.errors == 0 and mic.restarts == 0
    assert not mic.live  # stopped
    mic.stop()  # idempotent


@needs_ravdess
def test_microphone_at_another_rate_is_resampled_at_snapshot_time(pulse_env: dict[str, str]) -> None:
    clock = Clock()
    with MicSource(None, clock, capture_rate=44100, ring_seconds=RING_SECONDS) as mic:
        assert mic.capture_rate == 44100
        assert wait_for(clock, lambda: mic.snapshot(SR).live, timeout=2.0)
        correlation, _, recording = record_clip(mic, clock, pulse_env, CLIP)
    print(f"44.1 kHz capture, resampled: correlation {correlation:.4f}")
    assert recording.shape == (round((len(load_audio(CLIP, SR)) / SR + RECORD_EXTRA_SECONDS) * SR),)
    assert correlation > MIN_CORRELATION


@needs_ravdess
def test_microphone_recovers_from_a_stream_error(pulse_env: dict[str, str]) -> None:
    clock = Clock()
    with open_audio("mic://default", clock, ring_seconds=RING_SECONDS) as mic:
        assert wait_for(clock, lambda: mic.snapshot(SR).live, timeout=2.0)
        mic.fault_after = 3  # the third callback from now raises CallbackAbort: PortAudio aborts
        assert wait_for(clock, lambda: not mic.snapshot(SR).live, timeout=2.0), "the fault was not noticed"
        assert mic.errors >= 1 and mic.restarts == 0
        assert wait_for(clock, lambda: mic.restarts >= 1 and mic.snapshot(SR).live, timeout=5.0), "no recovery"
        correlation, _, _ = record_clip(mic, clock, pulse_env, CLIP)
    print(f"after recovery: errors {mic.errors}, restarts {mic.restarts}, correlation {correlation:.4f}")
    assert correlation > MIN_CORRELATION


def test_microphone_by_name_and_by_index(pulse_env: dict[str, str]) -> None:
    import sounddevice as sd

    default = sd.query_devices(kind="input")
    by_index = open_audio(f"mic://{default['index']}", Clock())
    assert by_index.device_name == default["name"]
    by_name = open_audio(f"mic://{default['name']}", Clock())
    assert by_name.device_name == default["name"]
    with pytest.raises(SourceError, match="no such audio input device"):
        open_audio("mic://99", Clock())
