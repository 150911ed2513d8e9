"""Voice activity detection: both real detectors on real speech and on what is not speech, streaming and offline.

Speech is espeak-ng's (synthetic but real speech audio, no network needed) and the six real
RAVDESS clips in examples/ravdess. Non-speech is generated: digital silence, white and pink noise, pure tones.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgefusion.config import LIVE_HOP, SAMPLE_RATE, WINDOW_SECONDS
from edgefusion.errors import EdgefusionError
from edgefusion.runtime.vad import (
    DEFAULT_VAD,
    MIN_SHARE,
    VADS,
    SileroVad,
    SpeechGate,
    Vad,
    WebrtcVad,
    open_vad,
    silero_model_path,
    speech_shares,
)

WINDOW = round(WINDOW_SECONDS * SAMPLE_RATE)
HOP = round(LIVE_HOP * SAMPLE_RATE)
SENTENCE = "Kids are talking by the door, and the dogs are sitting by the window."
LEAD = SAMPLE_RATE // 2  # silence around the synthetic sentence, as a recording has
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ravdess"  # six real RAVDESS clips

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
has_webrtc = importlib.util.find_spec("webrtcvad") is not None
ALL_VADS = [
    "silero",
    pytest.param("webrtc", marks=pytest.mark.skipif(not has_webrtc, reason="webrtcvad-wheels not installed")),
]


@pytest.fixture(params=ALL_VADS)
def vad(request: pytest.FixtureRequest) -> Vad:
    return open_vad(request.param)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """espeak-ng's sentence at 16 kHz with 0.5 s of silence either side: float32 [S], about 5.4 s."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from edgefusion.data.synthetic import EMOTION_PROSODY, resample, speak

    wav = tmp_path_factory.mktemp("espeak") / "sentence.wav"
    speak("espeak-ng", SENTENCE, "en-us", EMOTION_PROSODY["NEU"], wav)
    audio, rate = sf.read(wav, dtype="float32")
    pad = np.zeros(LEAD, np.float32)
    return np.concatenate([pad, 0.8 * resample(audio, rate), pad])


def at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2))).astype(np.float32)


def white(n: int, dbfs: float, seed: int = 0) -> np.ndarray:
    return at_dbfs(np.random.default_rng(seed).standard_normal(n), dbfs)


def pink(n: int, dbfs: float, seed: int = 0) -> np.ndarray:
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    return at_dbfs(np.fft.irfft(spec / np.sqrt(f), n), dbfs)


def sine(n: int, hz: float, dbfs: float) -> np.ndarray:
    return at_dbfs(np.sin(2 * np.pi * hz * np.arange(n) / SAMPLE_RATE), dbfs)


def last_window_share(vad: Vad, signal: np.ndarray) -> float:
    """The share of the signal's last 2 s, the detector having run over all of it."""
    return float(speech_shares(vad, signal, np.array([len(signal) - WINDOW]), WINDOW)[0])


SECONDS_3 = 3 * SAMPLE_RATE
QUIET = {  # non-speech that neither detector may call speech
    "digital silence": np.zeros(SECONDS_3, np.float32),
    "white -60 dBFS": white(SECONDS_3, -60),
    "white -40 dBFS": white(SECONDS_3, -40),
    "pink -60 dBFS": pink(SECONDS_3, -60),
    "pink -40 dBFS": pink(SECONDS_3, -40),
    **{f"tone {hz} Hz -40 dBFS": sine(SECONDS_3, hz, -40) for hz in (100, 440, 1000, 3000)},
}
LOUD = {  # non-speech as loud as speech: WebRTC's VAD calls most of it speech (benchmarks/vad.py), Silero must not
    "white -20 dBFS": white(SECONDS_3, -20),
    "pink -20 dBFS": pink(SECONDS_3, -20),
    "white -10 dBFS": white(SECONDS_3, -10),
    **{f"tone {hz} Hz {db} dBFS": sine(SECONDS_3, hz, db) for hz in (220, 1000, 3000) for db in (-20, -6)},
}


@pytest.mark.parametrize("name", list(QUIET))
def test_non_speech_is_below_the_gate(vad: Vad, name: str) -> None:
    share = last_window_share(vad, QUIET[name])
    assert 0.0 <= share < MIN_SHARE[vad.name] / 2, f"{vad.name} on {name}: share {share:.3f}"


@pytest.mark.parametrize("name", list(LOUD))
def test_silero_tells_speech_from_loud_noise_and_tones(name: str) -> None:
    share = last_window_share(SileroVad(), LOUD[name])
    assert share < MIN_SHARE["silero"] / 2, f"silero on {name}: share {share:.3f}"


@needs_espeak
def test_speech_is_above_the_gate(vad: Vad, speech: np.ndarray) -> None:
    middle = (len(speech) - WINDOW) // 2
    share = float(speech_shares(vad, speech, np.array([middle]), WINDOW)[0])
    assert share >= 0.7 and SpeechGate(vad, WINDOW_SECONDS).voiced(share), f"{vad.name}: share {share:.3f}"
    probs = open_vad(vad.name).frames(speech)
    lead_frames = LEAD // vad.frame_samples
    assert probs[:lead_frames].mean() < 0.1, "the leading silence is speech"


@needs_espeak
def test_speech_in_noise_stays_above_the_gate(speech: np.ndarray) -> None:
    noisy = speech + white(len(speech), 20 * np.log10(np.sqrt(np.mean(speech**2))) - 10, seed=1)  # 10 dB SNR
    middle = (len(noisy) - WINDOW) // 2
    assert speech_shares(SileroVad(), noisy, np.array([middle]), WINDOW)[0] >= 0.7


@pytest.mark.parametrize("name", ALL_VADS)
@pytest.mark.parametrize("clip_path", sorted(EXAMPLES.glob("*.wav")), ids=lambda p: p.stem)
def test_real_ravdess_speech(name: str, clip_path: Path) -> None:
    """The six example clips in the repository (real actors, one per emotion): speech in the middle."""
    clip, rate = sf.read(clip_path, dtype="float32")
    assert rate == SAMPLE_RATE
    vad = open_vad(name)
    share = float(speech_shares(vad, clip, np.array([(len(clip) - WINDOW) // 2]), WINDOW)[0])
    assert share >= 2 * MIN_SHARE[name], f"{name}: share {share:.3f}"


def test_frames_carry_the_remainder_and_are_probabilities(vad: Vad) -> None:
    n = vad.frame_samples
    x = white(10 * n, -20, seed=2)
    assert vad.frames(x[: n - 1]).shape == (0,)
    first = vad.frames(x[n - 1 : 3 * n + 5])  # completes frames 0, 1, 2; 5 samples wait
    assert first.shape == (3,) and first.dtype == np.float32
    rest = vad.frames(x[3 * n + 5 :])
    whole = open_vad(vad.name).frames(x)
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=1e-6)
    assert whole.shape == (10,) and np.all((whole >= 0) & (whole <= 1))


@needs_espeak
@pytest.mark.parametrize("hop", [HOP, 1234])
def test_streaming_gate_agrees_with_offline_shares(vad: Vad, speech: np.ndarray, hop: int) -> None:
    signal = np.concatenate([white(SAMPLE_RATE, -30, seed=3), speech, np.zeros(WINDOW + HOP, np.float32)])
    gate = SpeechGate(open_vad(vad.name), WINDOW_SECONDS)
    ends, live = [], []
    for end in range(hop, len(signal) + 1, hop):
        share = gate.update(signal[end - hop : end])
        if end >= WINDOW:
            ends.append(end)
            live.append(share)
    offline = speech_shares(vad, signal, np.array(ends) - WINDOW, WINDOW)
    np.testing.assert_allclose(live, offline, atol=1e-9)
    assert max(live) > 0.7 and min(live) < 0.1  # the signal has both, so agreeing means something


def test_gate_starts_at_zero_and_reset_forgets(vad: Vad) -> None:
    sig = np.concatenate([LOUD["white -20 dBFS"], QUIET["white -60 dBFS"]])

    def feed(gate: SpeechGate) -> list[float]:
        return [gate.update(sig[i : i + HOP]) for i in range(0, len(sig) - HOP + 1, HOP)]

    gate = SpeechGate(vad, WINDOW_SECONDS)
    assert gate.share == 0.0 and gate.update(np.zeros(10, np.float32)) == 0.0 and not gate.voiced(gate.share)
    feed(gate)  # frames, state and a 10-sample remainder, then forgotten
    gate.reset()
    assert gate.share == 0.0
    assert feed(gate) == feed(SpeechGate(open_vad(vad.name), WINDOW_SECONDS))
    vad.frames(sig[:777])
    vad.reset()
    np.testing.assert_array_equal(vad.frames(sig), open_vad(vad.name).frames(sig))


def test_silero_reset_forgets_speech(speech: np.ndarray) -> None:
    """Silero is recurrent: its probabilities depend on what came before, until reset."""
    vad, fresh = SileroVad(), SileroVad()
    tone = sine(SAMPLE_RATE, 440, -20)
    vad.frames(speech)
    after_speech = vad.frames(tone)
    vad.reset()
    np.testing.assert_array_equal(vad.frames(tone), fresh.frames(tone))
    assert not np.array_equal(after_speech, fresh.frames(tone))  # a test of reset that can fail


def test_unknown_vad_is_a_one_line_error() -> None:
    with pytest.raises(EdgefusionError) as err:
        open_vad("energy")
    assert "\n" not in str(err.value) and "'energy'" in str(err.value) and all(v in str(err.value) for v in VADS)
    assert DEFAULT_VAD in VADS
    with pytest.raises(ValueError):
        WebrtcVad(aggressiveness=4)


def test_missing_silero_model_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A silero-vad install without its ONNX file (a real folder on sys.path, found first)."""
    if "silero_vad" in sys.modules:
        pytest.skip("silero_vad already imported in this process")
    (tmp_path / "silero_vad").mkdir()
    (tmp_path / "silero_vad" / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(EdgefusionError) as err:
        silero_model_path()
    line = str(err.value)
    assert "\n" not in line and "silero_vad.onnx" in line and "pip install silero-vad" in line


def test_silero_runs_without_importing_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from edgefusion.runtime.vad import open_vad\n"
        "probs = open_vad('silero').frames(np.zeros(2048, np.float32))\n"
        "assert probs.shape == (4,), probs.shape\n"
        "bad = [m for m in ('torch', 'silero_vad') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
