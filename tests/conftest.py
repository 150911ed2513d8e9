"""Shared fixtures: small real corpora written to disk with real audio files."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-speech"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
needs_ravdess = pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"RAVDESS speech not found at {RAVDESS}")


# Fixtures that train or export a model: every test that uses one (directly or through another
# fixture) is marked slow, so `make test-fast` (pytest -m "not slow") leaves it out.
SLOW_FIXTURES = frozenset(
    {"exported_onnx", "exported", "artifacts", "built", "model_ravdess", "onnx_model", "dynamic_onnx"}  # export
    | {"trained", "adapted_model", "old_artifact"}  # train or build a model
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


# -- running the CLI as a user does ------------------------------------------------------------


EDGEFUSION = [sys.executable, "-m", "edgefusion"]


def cli(
    *args: str | Path, cache: Path | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``edgefusion ARGS`` in a process of its own; ``env`` adds to (or overrides) its environment."""
    cache_home = str(cache) if cache else os.environ.get("XDG_CACHE_HOME", "")
    env = dict(os.environ, XDG_CACHE_HOME=cache_home, COLUMNS="160") | (env or {})
    proc = subprocess.run([*EDGEFUSION, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    # progress may come first; the error is one line, and the last thing said
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def feed(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(32000) / 16000
    audio = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 300, (batch, 1)) * t) + 0.01 * rng.standard_normal((batch, 32000))
    return {
        "audio": audio.astype(np.float32),
        "video": rng.integers(0, 256, (batch, 4, 112, 112, 3), dtype=np.uint8),
        "present": np.ones((batch, 2), dtype=np.float32),
    }


@pytest.fixture(scope="session")
def exported_onnx(untrained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``untrained_checkpoint`` exported once (fp32, batch 1) for every test that needs an ONNX.

    Shared by the whole session: a test that writes beside it copies it to a folder of its own.
    """
    out = tmp_path_factory.mktemp("exported") / "model.onnx"
    cli("export", untrained_checkpoint, "-o", out)
    return out


# -- a real microphone without hardware: a private PulseAudio server --------------------------

PULSE_TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")
SERVER_UP_SECONDS = 10.0  # how long to wait for `pactl info` to answer
SETTLE_SECONDS = 2.0  # the keep-alive stream needs this to settle (environment.md)


def run_tool(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)


def skip_microphone(reason: str) -> None:
    print(f"microphone tests skipped: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private PulseAudio server with the null sink ``vsink``; yields the environment that reaches it."""
    missing = [tool for tool in PULSE_TOOLS if shutil.which(tool) is None]
    if missing:
        skip_microphone(
            f"PulseAudio tools not installed: {', '.join(missing)} (apt-get install pulseaudio pulseaudio-utils)"
        )
    try:
        import sounddevice  # noqa: F401
    except OSError as err:
        skip_microphone(f"PortAudio not available: {err}")
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    home = tmp_path_factory.mktemp("pulse-home")
    runtime.chmod(0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(home)}
    started = run_tool(["pulseaudio", "-D", "--system=false", "--exit-idle-time=-1"], env)
    if started.returncode != 0:
        skip_microphone(
            f"pulseaudio did not start (exit {started.returncode}): {' '.join(started.stderr.split())[-300:]}"
        )
    deadline = time.monotonic() + SERVER_UP_SECONDS
    while run_tool(["pactl", "info"], env).returncode != 0:
        if time.monotonic() > deadline:
            run_tool(["pulseaudio", "--kill"], env)
            skip_microphone(f"the PulseAudio server did not answer `pactl info` within {SERVER_UP_SECONDS:.0f} s")
        time.sleep(0.1)
    keepalive = None
    try:
        run_tool(["pactl", "unload-module", "module-suspend-on-idle"], env)  # absent on some setups: fine
        for args in (
            ["pactl", "load-module", "module-null-sink", "sink_name=vsink", "rate=16000", "channels=1"],
            ["pactl", "set-default-sink", "vsink"],
            ["pactl", "set-default-source", "vsink.monitor"],
        ):
            done = run_tool(args, env)
            if done.returncode != 0:
                skip_microphone(f"`{' '.join(args)}` failed: {' '.join(done.stderr.split())}")
        with open("/dev/zero", "rb") as zeros:
            keepalive = subprocess.Popen(
                ["pacat", "-p", "--latency-msec=20", "--rate=16000", "--channels=1", "--format=s16le", "--raw"],
                stdin=zeros,
                env=env,
            )
        time.sleep(SETTLE_SECONDS)
        if keepalive.poll() is not None:
            skip_microphone(f"the pacat keep-alive stream exited ({keepalive.returncode})")
        yield env
    finally:
        if keepalive is not None and keepalive.poll() is None:
            keepalive.terminate()
            keepalive.wait(timeout=10)
        run_tool(["pulseaudio", "--kill"], env)
