"""The in-graph log-mel front end against librosa on the same parameters."""

from __future__ import annotations

import librosa
import numpy as np
import soundfile as sf
import torch

from edgefusion.config import ModelConfig
from edgefusion.model.frontend import LogMel, mel_filterbank
from tests.conftest import RAVDESS, needs_ravdess

CFG = ModelConfig()
TOLERANCE_DB = 1e-3


def reference(y: np.ndarray) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=y.astype(np.float64),
        sr=CFG.sample_rate,
        n_fft=CFG.n_fft,
        hop_length=CFG.hop_length,
        win_length=CFG.n_fft,
        window="hann",
        center=False,
        power=2.0,
        n_mels=CFG.n_mels,
        fmin=CFG.f_min,
        fmax=CFG.f_max,
        htk=False,
        norm="slaney",
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=CFG.top_db)


def ours(y: np.ndarray) -> np.ndarray:
    frontend = LogMel(CFG.sample_rate, CFG.n_fft, CFG.hop_length, CFG.n_mels, CFG.f_min, CFG.f_max, CFG.top_db)
    with torch.no_grad():
        return frontend(torch.from_numpy(y.astype(np.float32))[None])[0].numpy()


def test_filterbank_matches_librosa() -> None:
    ref = librosa.filters.mel(sr=CFG.sample_rate, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmin=CFG.f_min, fmax=CFG.f_max)
    ours_fb = mel_filterbank(CFG.sample_rate, CFG.n_fft, CFG.n_mels, CFG.f_min, CFG.f_max)
    assert ours_fb.shape == ref.shape
    np.testing.assert_allclose(ours_fb, ref, atol=1e-7)


def test_logmel_matches_librosa_on_chirp_and_noise() -> None:
    t = np.arange(CFG.window_samples) / CFG.sample_rate
    y = 0.5 * np.sin(2 * np.pi * (100 + 1800 * t) * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    a, b = ours(y), reference(y)
    assert a.shape == b.shape == (CFG.n_mels, CFG.spec_frames)
    assert np.abs(a - b).max() <= TOLERANCE_DB


@needs_ravdess
def test_logmel_matches_librosa_on_real_speech() -> None:
    worst = 0.0
    for path in sorted(RAVDESS.glob("Actor_0[1-3]/*.wav"))[::15]:
        y, sr = sf.read(path, dtype="float32")
        assert sr == CFG.sample_rate
        window = y[: CFG.window_samples]
        worst = max(worst, float(np.abs(ours(window) - reference(window)).max()))
    assert worst <= TOLERANCE_DB


def test_silence_is_floored_not_infinite() -> None:
    db = ours(np.zeros(CFG.window_samples))
    assert np.isfinite(db).all()
    np.testing.assert_allclose(db, -100.0, atol=1e-3)  # 10 * log10(AMIN)
