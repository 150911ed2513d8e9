"""Log-mel front end computed inside the network.

The waveform becomes a log-mel spectrogram through ops every deployment target imports:
a Conv1d over a fixed windowed-DFT basis (no ``torch.stft``, which exports to an ONNX STFT
op that TensorRT 10.3 lacks), squares, a mel-filterbank MatMul and a clamped log. The
parameters match librosa's ``melspectrogram(center=False, htk=False, norm="slaney")`` and
``power_to_db(ref=1.0, amin=1e-10, top_db=80)``. Keep this module in float32: Log and
Pow overflow in float16.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

AMIN = 1e-10  # power floor before the log (-100 dB)


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window ``[n]`` (``scipy.signal.get_window("hann", n)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def dft_basis(n_fft: int) -> np.ndarray:
    """Windowed real-DFT basis ``[2 * (n_fft // 2 + 1), 1, n_fft]``: cosines, then minus sines."""
    bins = np.arange(n_fft // 2 + 1)[:, None]
    phase = 2.0 * np.pi * bins * np.arange(n_fft)[None, :] / n_fft
    window = hann_window(n_fft)[None, :]
    basis = np.concatenate([np.cos(phase) * window, -np.sin(phase) * window], axis=0)
    return basis[:, None, :]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / f_sp
    log_part = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * f_sp
    log_part = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log_part, hz)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (librosa's default)."""
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


class LogMel(nn.Module):
    """float32 PCM ``[B, S]`` at ``sample_rate`` -> log-mel in dB ``[B, n_mels, frames]``.

    ``frames = 1 + (S - n_fft) // hop_length`` (no centre padding). Each spectrogram is floored
    at ``top_db`` below its own maximum, as ``librosa.power_to_db(top_db=...)`` does.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        f_min: float,
        f_max: float,
        top_db: float,
    ) -> None:
        super().__init__()
        self.hop_length = hop_length
        self.n_bins = n_fft // 2 + 1
        self.top_db = top_db
        self.register_buffer("basis", torch.tensor(dft_basis(n_fft), dtype=torch.float32))
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
        self.register_buffer("mel", torch.tensor(fb, dtype=torch.float32))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = nn.functional.conv1d(audio.unsqueeze(1), self.basis, stride=self.hop_length)
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        power = real * real + imag * imag  # [B, bins, frames]
        mel = torch.matmul(self.mel, power)  # [B, n_mels, frames]
        db = torch.log(torch.clamp(mel, min=AMIN)) * (10.0 / math.log(10.0))
        peak = db.amax(dim=(1, 2), keepdim=True)
        return torch.maximum(db, peak - self.top_db)
