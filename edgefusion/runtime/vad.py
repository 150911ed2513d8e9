"""Voice activity detection: does the live window hold speech, so that an emotion is decided on speech only.

Two detectors behind one streaming interface, ``Vad``:

- ``SileroVad``: Silero VAD's ONNX model (MIT), the file ``silero_vad/data/silero_vad.onnx`` that the
  PyPI package ``silero-vad`` ships, run by ONNX Runtime on the CPU. The file is found with
  ``importlib.util.find_spec`` and never imported: the package's ``__init__`` imports torch, and a
  device that only runs artifacts has none (``pip install --no-deps silero-vad`` is enough there).
  The model is recurrent: every call takes one frame of 512 samples (32 ms) with the 64 samples
  before it prepended (``input`` [1, 576]), the recurrent ``state`` [2, 1, 128] and ``sr`` (int64
  scalar), and gives the frame's speech probability ``output`` [1, 1] and the next state.
- ``WebrtcVad``: WebRTC's VAD (``webrtcvad-wheels``, module ``webrtcvad``), a GMM on 10/20/30 ms
  frames of 16-bit PCM with aggressiveness 0-3; its decisions are 0.0 or 1.0.

``Vad.frames`` is stateful: it keeps the samples that do not fill a frame and the detector's state
across calls, so a stream cut into any hops gets the same frames and probabilities as the whole
stream in one call. ``SpeechGate`` turns frame probabilities into one number per live window, the
**speech share**: the mean probability of the ``window_frames`` newest complete frames (a deque);
the window is voiced when the share reaches ``min_share``. ``speech_shares`` gives the same share
for windows of a whole clip, offline, from one pass of the detector.

The defaults (``DEFAULT_VAD``, ``MIN_SHARE``, ``DEFAULT_AGGRESSIVENESS``) were measured by
``benchmarks/vad.py`` on real acted speech in noise against noise, tones and silence alone.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path

import numpy as np

from edgefusion.config import SAMPLE_RATE
from edgefusion.errors import EdgefusionError, located

VADS = ("silero", "webrtc")
# benchmarks/vad.py (2 s windows, 40 clips per corpus): balanced accuracy silero 98.9% on RAVDESS,
# 100% / 98.6% on EmoDB / EMOVO; WebRTC (aggressiveness 2) 97.2%, 78.1% / 93.7%. WebRTC calls loud
# noise and pure tones speech; Silero does not. Silero costs ~1 ms per 0.25 s hop, WebRTC ~0.06 ms.
DEFAULT_VAD = "silero"
# Speech share at or above which a window counts as speech, per VAD: the middle of the values within
# 0.01 of the best balanced accuracy on RAVDESS (webrtc: at DEFAULT_AGGRESSIVENESS, 30 ms frames).
MIN_SHARE = {"silero": 0.3, "webrtc": 0.1}
DEFAULT_AGGRESSIVENESS = 2  # WebRTC 0 (least) - 3 (most eager to call a frame non-speech): best on RAVDESS

SILERO_PACKAGE = "silero_vad"
SILERO_MODEL = Path("data") / "silero_vad.onnx"  # inside the installed package folder
SILERO_FRAME = 512  # samples per call at 16 kHz (32 ms): fixed by the model
SILERO_CONTEXT = 64  # samples of the stream before the frame that the model sees with it
SILERO_STATE_SHAPE = (2, 1, 128)  # recurrent state: [2, batch 1, 128]
SILERO_INSTALL = "pip install silero-vad (only its ONNX file is read; --no-deps where torch is absent)"

WEBRTC_MODULE = "webrtcvad"
WEBRTC_FRAME_MS = (10, 20, 30)  # the frame lengths WebRTC's VAD takes
DEFAULT_WEBRTC_FRAME_MS = 30
WEBRTC_AGGRESSIVENESS = range(4)
WEBRTC_INSTALL = "pip install webrtcvad-wheels"
PCM16_FULL_SCALE = 32767  # float [-1, 1] -> int16


class Vad(ABC):
    """A streaming detector: samples in, one speech probability per complete frame out.

    ``frame_samples`` samples at ``SAMPLE_RATE`` make one decision. Subclasses set ``name`` and
    ``frame_samples`` and implement ``_decide`` and ``_reset_state``.
    """

    name: str
    frame_samples: int
    sample_rate: int = SAMPLE_RATE

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        """Forget the stream: the samples left over and the detector's own state."""
        self._pending = np.zeros(0, dtype=np.float32)
        self._reset_state()

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """Append float32 ``samples`` [n] in [-1, 1] to the stream; the probability [F] of each frame they complete.

        F = (leftover + n) // frame_samples; the remainder waits for the next call.
        """
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._pending.size:
            x = np.concatenate([self._pending, x])
        count = x.size // self.frame_samples
        used = count * self.frame_samples
        self._pending = x[used:].copy()
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        return self._decide(x[:used].reshape(count, self.frame_samples))

    @abstractmethod
    def _decide(self, frames: np.ndarray) -> np.ndarray:
        """float32 [F, frame_samples], consecutive frames of the stream -> float32 [F] in [0, 1]."""

    @abstractmethod
    def _reset_state(self) -> None:
        """Return the detector to the state it starts a stream in."""


def silero_model_path() -> Path:
    """The ``silero_vad.onnx`` of the installed silero-vad package, found without importing it (and torch)."""
    spec = importlib.util.find_spec(SILERO_PACKAGE)
    if spec is None:
        raise EdgefusionError(f"VAD 'silero' needs the silero-vad package: {SILERO_INSTALL}")
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [str(Path(spec.origin).parent)]
    for folder in folders:
        path = Path(folder) / SILERO_MODEL
        if path.is_file():
            return path
    where = Path(folders[0]) / SILERO_MODEL if folders else SILERO_MODEL
    raise EdgefusionError(
        located(where, f"missing from the installed silero-vad package: reinstall it ({SILERO_INSTALL})")
    )


class SileroVad(Vad):
    """Silero VAD's ONNX model in one ONNX Runtime session on the CPU; frames of 512 samples (32 ms)."""

    name = "silero"
    frame_samples = SILERO_FRAME

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # here, not at import: scoring without --vad never loads it

        super().__init__()
        path = model_path if model_path is not None else silero_model_path()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # ONNX Runtime raises its own types for a missing or corrupt file
            raise EdgefusionError(located(path, f"cannot load the Silero VAD model ({err})")) from None
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._input = np.zeros((1, SILERO_CONTEXT + SILERO_FRAME), dtype=np.float32)  # [context | frame]
        self._state = np.zeros(SILERO_STATE_SHAPE, dtype=np.float32)

    def _reset_state(self) -> None:
        self._input[:] = 0.0
        self._state = np.zeros(SILERO_STATE_SHAPE, dtype=np.float32)

    def _decide(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty(len(frames), dtype=np.float32)
        buf = self._input
        for i, frame in enumerate(frames):
            buf[0, SILERO_CONTEXT:] = frame
            prob, self._state = self._session.run(None, {"input": buf, "state": self._state, "sr": self._sr})
            out[i] = prob[0, 0]
            buf[0, :SILERO_CONTEXT] = frame[-SILERO_CONTEXT:]
        return out


class WebrtcVad(Vad):
    """WebRTC's VAD on ``frame_ms`` frames of 16-bit PCM; probability 1.0 (speech) or 0.0 per frame."""

    name = "webrtc"

    def __init__(self, aggressiveness: int = DEFAULT_AGGRESSIVENESS, frame_ms: int = DEFAULT_WEBRTC_FRAME_MS) -> None:
        super().__init__()
        if aggressiveness not in WEBRTC_AGGRESSIVENESS:
            raise ValueError(f"WebRTC VAD aggressiveness is 0-3, got {aggressiveness}")
        if frame_ms not in WEBRTC_FRAME_MS:
            raise ValueError(f"WebRTC VAD frames are {WEBRTC_FRAME_MS} ms, got {frame_ms}")
        try:
            self._module = importlib.import_module(WEBRTC_MODULE)
        except ImportError:
            raise EdgefusionError(f"VAD 'webrtc' needs the webrtcvad-wheels package: {WEBRTC_INSTALL}") from None
        self.aggressiveness = aggressiveness
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self._vad = self._module.Vad(aggressiveness)

    def _reset_state(self) -> None:
        self._vad = self._module.Vad(self.aggressiveness)  # a new instance: webrtcvad has no reset

    def _decide(self, frames: np.ndarray) -> np.ndarray:
        pcm = np.rint(np.clip(frames, -1.0, 1.0) * PCM16_FULL_SCALE).astype("<i2")
        return np.array([self._vad.is_speech(row.tobytes(), SAMPLE_RATE) for row in pcm], dtype=np.float32)


def open_vad(name: str) -> Vad:
    """A fresh detector by name (one of ``VADS``) with its defaults; one-line error if unknown or not installed."""
    if name == "silero":
        return SileroVad()
    if name == "webrtc":
        return WebrtcVad()
    raise EdgefusionError(f"unknown VAD {name!r}: choose one of {', '.join(VADS)}")


def window_frames(vad: Vad, window: int) -> int:
    """How many frames a window of ``window`` samples is judged on: the whole frames that fit, at least 1."""
    return max(1, window // vad.frame_samples)


class SpeechGate:
    """Live: feed each hop's samples, get the speech share of the newest window, ask if it is voiced.

    The share is the mean probability of the ``window_frames`` newest complete frames: the frames
    that end by the newest sample, which may reach back up to one frame before the window's start.
    Early in a stream it averages the frames there are; before any frame it is 0.
    ``min_share`` None: the measured ``MIN_SHARE`` of the VAD.
    """

    def __init__(
        self, vad: Vad, window_seconds: float, sample_rate: int = SAMPLE_RATE, min_share: float | None = None
    ) -> None:
        if sample_rate != vad.sample_rate:
            raise ValueError(f"{vad.name} VAD runs at {vad.sample_rate} Hz, not {sample_rate}")
        self.vad = vad
        self.min_share = MIN_SHARE[vad.name] if min_share is None else min_share
        self._probs: deque[float] = deque(maxlen=window_frames(vad, round(window_seconds * sample_rate)))

    def update(self, new_samples: np.ndarray) -> float:
        """Feed float32 ``new_samples`` [n] (the newest hop); the window's speech share in [0, 1]."""
        self._probs.extend(self.vad.frames(new_samples).tolist())
        return self.share

    @property
    def share(self) -> float:
        return sum(self._probs) / len(self._probs) if self._probs else 0.0

    def voiced(self, share: float) -> bool:
        return share >= self.min_share

    def reset(self) -> None:
        self.vad.reset()
        self._probs.clear()


def speech_shares(vad: Vad, samples: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Offline: the speech share [W] of each window [start, start + window) of a clip's ``samples`` [S].

    ``starts`` [W] and ``window`` are in samples. The detector is reset and run once over the clip;
    each window gets the share ``SpeechGate`` would give after being fed the clip up to the window's
    end, in any hops: the mean of the ``window_frames`` newest frames complete by then.
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    if starts.size and (starts.min() < 0 or starts.max() + window > len(samples)):
        raise ValueError(
            f"windows of {window} samples at {starts.min()}..{starts.max()} leave a clip of {len(samples)}"
        )
    vad.reset()
    probs = vad.frames(samples).astype(np.float64)
    sums = np.concatenate([[0.0], np.cumsum(probs)])
    ends = (starts + window) // vad.frame_samples  # frames complete by each window's end
    firsts = np.maximum(ends - window_frames(vad, window), 0)
    counts = ends - firsts
    return np.where(counts > 0, (sums[ends] - sums[firsts]) / np.maximum(counts, 1), 0.0)
