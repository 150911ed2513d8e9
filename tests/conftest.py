"""Shared fixtures: small real corpora written to disk with real audio files."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-speech"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
needs_ravdess = pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"RAVDESS speech not found at {RAVDESS}")


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` as a module, registered in ``sys.modules`` (a dataclass looks its module up there)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="session")
def av_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic CREMA-D corpus WITH face videos: 3 actors x 6 emotions x 1 sentence."""
    from edgefusion.data.synthetic import make_corpus

    root = tmp_path_factory.mktemp("av") / "corpus"
    make_corpus(root, actors=3, sentences=1, seed=1)
    return root


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the default network with seeded random weights (export does not need training)."""
    import torch

    from edgefusion.config import ModelConfig
    from edgefusion.model.checkpoint import save_checkpoint
    from edgefusion.model.network import EmotionNet

    torch.manual_seed(0)
    model = EmotionNet(ModelConfig())
    # non-trivial batch-norm statistics, so folding them into the convolutions is exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", model.eval())


def edgefusion(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """``edgefusion ARGS`` in a process of its own, as a user runs it."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), COLUMNS="200")
    command = [sys.executable, "-m", "edgefusion", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line a failed command ends with (no traceback, exit status non-zero)."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    return errors[0]
