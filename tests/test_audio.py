"""Audio decoding on real files written with soundfile: formats, downmix, resampling, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgefusion.config import ModelConfig
from edgefusion.data.audio import change_speed, duration_seconds, fit_length, load_audio
from edgefusion.data.video import FaceTrack
from edgefusion.data.windows import cut_window
from edgefusion.errors import DataError

RAVDESS_ACTOR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-speech" / "Actor_01"
SR = 16_000


def sines(seconds: float, sr: int, *parts: tuple[float, float]) -> np.ndarray:
    """Sum of ``amplitude * sin(2 pi f t)`` over ``parts`` of (f, amplitude), float32 [S]."""
    t = np.arange(round(seconds * sr)) / sr
    return sum(a * np.sin(2 * np.pi * f * t) for f, a in parts).astype(np.float32)


def spectrum(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and magnitudes of a Hann-windowed real FFT of ``x``."""
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr), mag


def band(freqs: np.ndarray, mag: np.ndarray, f: float, width: float = 5.0) -> float:
    return float(mag[np.abs(freqs - f) < width].max())


def assert_one_line_error(err: pytest.ExceptionInfo[DataError], path: Path, phrase: str) -> None:
    msg = str(err.value)
    assert path.name in msg
    assert phrase in msg
    assert "\n" not in msg


@pytest.fixture
def stereo_8k(tmp_path: Path) -> Path:
    """1.5 s, 8 kHz, 2 channels: 440 Hz in both, 1 kHz in opposite phase (cancels in the mean)."""
    common, differ = sines(1.5, 8000, (440, 0.4)), sines(1.5, 8000, (1000, 0.3))
    path = tmp_path / "stereo_8k.wav"
    sf.write(path, np.stack([common + differ, common - differ], axis=1), 8000, subtype="PCM_16")
    return path


def test_stereo_8k_becomes_16k_mono_440(stereo_8k: Path) -> None:
    y = load_audio(stereo_8k, SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 24_000) <= 1
    assert np.abs(y).max() <= 1.0
    freqs, mag = spectrum(y, SR)
    assert abs(freqs[mag.argmax()] - 440) < 1.0
    # the anti-phase 1 kHz component vanishes only if the downmix is the mean of the channels
    assert band(freqs, mag, 1000) < 1e-3 * band(freqs, mag, 440)


def test_downmix_is_channel_mean(stereo_8k: Path) -> None:
    y = load_audio(stereo_8k, 8000)  # same rate: no resampling, only the downmix
    channels, _ = sf.read(stereo_8k, dtype="float32")
    np.testing.assert_allclose(y, channels.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize(("suffix", "subtype"), [(".flac", "PCM_16"), (".ogg", "VORBIS")])
def test_44k1_formats_decode(tmp_path: Path, suffix: str, subtype: str) -> None:
    path = tmp_path / f"tone{suffix}"
    sf.write(path, sines(1.0, 44_100, (440, 0.5)), 44_100, subtype=subtype)
    y = load_audio(path, SR)
    assert y.dtype == np.float32
    assert abs(len(y) - SR) <= 2
    freqs, mag = spectrum(y, SR)
    assert abs(freqs[mag.argmax()] - 440) < 2.0
    assert duration_seconds(path) == pytest.approx(1.0, abs=1e-3)


def _missing(tmp: Path) -> Path:
    return tmp / "missing.wav"


def _directory(tmp: Path) -> Path:
    (tmp / "folder.wav").mkdir()
    return tmp / "folder.wav"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.wav").write_bytes(b"")
    return tmp / "empty.wav"


def _text(tmp: Path) -> Path:
    (tmp / "notes.wav").write_text("this is not audio\n" * 20)
    return tmp / "notes.wav"


def _truncated(tmp: Path) -> Path:
    full = tmp / "full.wav"
    sf.write(full, sines(0.5, SR, (440, 0.5)), SR)
    (tmp / "truncated.wav").write_bytes(full.read_bytes()[:30])  # header cut before "data"
    return tmp / "truncated.wav"


def _no_frames(tmp: Path) -> Path:
    sf.write(tmp / "no_frames.wav", np.zeros(0, np.float32), SR)
    return tmp / "no_frames.wav"


def _nan(tmp: Path) -> Path:
    y = sines(0.5, SR, (440, 0.5))
    y[100] = np.nan
    sf.write(tmp / "nan.wav", y, SR, subtype="FLOAT")
    return tmp / "nan.wav"


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (_missing, "no such file"),
        (_directory, "is a directory"),
        (_empty, "empty file"),
        (_text, "not a readable audio file: Format not recognised"),
        (_truncated, "not a readable audio file"),
        (_no_frames, "contains no audio samples"),
        (_nan, "non-finite"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated", "no-frames", "nan"],
)
def test_bad_files_raise_one_line_data_error(tmp_path: Path, make, phrase: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DataError) as err:
        load_audio(path)
    assert_one_line_error(err, path, phrase)


def test_duration_seconds_errors_like_load(tmp_path: Path) -> None:
    path = _text(tmp_path)
    with pytest.raises(DataError) as err:
        duration_seconds(path)
    assert_one_line_error(err, path, "not a readable audio file")


def test_fit_length_crops_and_pads() -> None:
    x = np.arange(1, 11, dtype=np.float32)  # [10]
    np.testing.assert_array_equal(fit_length(x, 4), [1, 2, 3, 4])
    np.testing.assert_array_equal(fit_length(x, 4, offset=3), [4, 5, 6, 7])
    np.testing.assert_array_equal(fit_length(x, 5, offset=8), [9, 10, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3, offset=50), [0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 12), [*range(1, 11), 0, 0])
    assert fit_length(x, 12).dtype == np.float32
    out = fit_length(x, 4)
    out[0] = 99
    assert x[0] == 1  # a copy, never a view of the clip


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_change_speed_scales_pitch_and_length(speed: float) -> None:
    x = sines(3.0, SR, (200.0, 0.5), (1000.0, 0.2))
    y = change_speed(x, speed, SR)
    assert y.dtype == np.float32 and abs(len(y) - len(x) / speed) <= 1
    freqs, mag = spectrum(y, SR)
    for f in (200.0 * speed, 1000.0 * speed):
        assert band(freqs, mag, f) > 10 * band(freqs, mag, f / speed)  # moved, not copied
    assert change_speed(x, 1.0, SR) is x
    with pytest.raises(ValueError, match="speed"):
        change_speed(x, 0.0, SR)


def test_sped_window_keeps_its_length_and_spans_more_faces() -> None:
    cfg = ModelConfig()
    audio = sines(4.0, SR, (300.0, 0.5))
    times = np.arange(0.0, 4.0, 0.125, dtype=np.float32)
    crops = np.broadcast_to(np.arange(len(times), dtype=np.uint8)[:, None, None, None], (len(times), 8, 8, 3))
    track = FaceTrack(crops=crops, times=times, frames_read=len(times), frames_with_face=len(times), duration=4.0)
    plain, fast = cut_window(audio, track, 1.0, cfg), cut_window(audio, track, 1.0, cfg, speed=1.25)
    assert plain.audio is not None and fast.audio is not None and plain.video is not None and fast.video is not None
    assert plain.audio.shape == fast.audio.shape == (cfg.window_samples,)
    freqs, mag = spectrum(fast.audio, SR)
    assert band(freqs, mag, 375.0) > 10 * band(freqs, mag, 300.0)  # 2.5 s of the clip played in 2 s
    # crop i holds the value i: the fast window's last face comes from later in the clip
    assert int(fast.video[-1, 0, 0, 0]) > int(plain.video[-1, 0, 0, 0])


@pytest.mark.skipif(not RAVDESS_ACTOR.is_dir(), reason=f"RAVDESS clips not found at {RAVDESS_ACTOR}")
def test_real_ravdess_clip_matches_soundfile() -> None:
    path = sorted(RAVDESS_ACTOR.glob("*.wav"))[0]
    reference, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == SR  # the shared copy is 16 kHz mono: decoding must be a plain read
    y = load_audio(path, SR)
    np.testing.assert_array_equal(y, reference.mean(axis=1))
    assert duration_seconds(path) == pytest.approx(len(y) / SR)


def _fill_cache(args: tuple[str, str]) -> float:
    """In a separate process: decode one clip into a shared cache; returns the decoded sum."""
    wav, cache = args
    from edgefusion.config import ModelConfig
    from edgefusion.data.corpus import scan_corpus
    from edgefusion.data.store import ClipStore

    (clip,) = scan_corpus(Path(wav).parents[1])
    return float(np.asarray(ClipStore(ModelConfig(), cache).audio(clip)).sum())


def test_processes_sharing_a_cache_do_not_collide(tmp_path: Path) -> None:
    """Runs started together (training and eval) decode the same clip into one cache at once."""
    import multiprocessing

    wav = tmp_path / "c" / "AudioWAV" / "1001_DFA_ANG_XX.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, sines(60.0, 8_000, (300.0, 0.5)).astype(np.float32), 8_000)
    cache = tmp_path / "cache"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        sums = pool.map(_fill_cache, [(str(wav), str(cache))] * 8)
    assert len(set(sums)) == 1
    assert [p.suffixes for p in cache.iterdir()] == [[".audio", ".npy"]]  # one entry, no temporary left
