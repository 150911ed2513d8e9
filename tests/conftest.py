"""Shared fixtures: small real corpora written to disk with real audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-speech"
needs_ravdess = pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"RAVDESS speech not found at {RAVDESS}")


def tone(seconds: float, freq: float, sr: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A sine with a little noise, float32 [S] or [S, channels]."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    y = y.astype(np.float32)
    return y if channels == 1 else np.stack([y] * channels, axis=1)


def write_wav(path: Path, data: np.ndarray, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr, subtype="PCM_16")
    return path


CREMAD_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


@pytest.fixture
def cremad_tones(tmp_path: Path) -> Path:
    """A CREMA-D layout of tone clips: 3 actors x 6 emotions x 2 sentences, audio only."""
    root = tmp_path / "cremad"
    for a, actor in enumerate(("1001", "1002", "1003")):
        for e, emo in enumerate(CREMAD_EMOTIONS):
            for sent in ("DFA", "IEO"):
                write_wav(root / "AudioWAV" / f"{actor}_{sent}_{emo}_XX.wav", tone(1.2, 200 + 80 * e, seed=a))
    return root
