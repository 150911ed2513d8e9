"""Log-mel front end computed inside the network.

The waveform becomes a log-mel spectrogram through ops every deployment target imports (no
``torch.stft``, which exports to an ONNX STFT op that TensorRT 10.3 lacks): the windowed DFT
of every frame as two fixed-weight stages of a Cooley-Tukey factorisation, squares, a
mel-filterbank MatMul and a clamped log. The parameters match librosa's
``melspectrogram(center=False, htk=False, norm="slaney")`` and
``power_to_db(ref=1.0, amin=1e-10, top_db=80)``. Keep this module in float32: Log and Pow
overflow in float16.

The DFT, with ``n_fft = P * Q`` and ``Q`` dividing the hop. Sample ``n = Q*n1 + n2`` of a frame
and bin ``k = k1 + P*k2`` (``n1, k1 < P``; ``n2, k2 < Q``) give

    X[k1 + P*k2] = sum_n2 e^(-2 pi i n2 (k1/n_fft + k2/Q)) * sum_n1 w[Q*n1 + n2] x[Q*n1 + n2] e^(-2 pi i n1 k1/P)

Laid out as rows of ``Q`` samples, frame ``f``'s sample ``(n1, n2)`` is row ``hop/Q * f + n1``,
column ``n2``, so the inner sum for every frame is one grouped Conv1d over the rows (a group
per column ``n2``, kernel ``P``, stride ``hop/Q``: framing, window and a ``P``-point DFT in one
op) and the outer sum, twiddles folded in, one batched MatMul per ``k1``. For 400 = 20 x 20
that is about 7 M multiply-adds per 2 s window where a Conv1d over the full 400-tap DFT basis
takes 32 M. The bins come out in ``(k1, k2)`` order, with ``P * ceil(bins / P)`` of them;
the mel matrix is laid out in the same order, with zero weight on bins past Nyquist.
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


def factor(n_fft: int, hop_length: int) -> tuple[int, int]:
    """``(P, Q)``: ``P * Q == n_fft``, ``Q`` divides ``hop_length``, ``Q`` as near ``sqrt(n_fft)`` as allowed.

    ``Q == 1`` (no common factor) degenerates to a single full-length DFT stage: correct, not faster.
    """
    common = math.gcd(n_fft, hop_length)
    q = min((d for d in range(1, common + 1) if common % d == 0), key=lambda d: abs(d - math.sqrt(n_fft)))
    return n_fft // q, q


def inner_dft(n_fft: int, p: int, q: int) -> np.ndarray:
    """Grouped-Conv1d weights ``[q * p * 2, 1, p]``: for column ``n2``, output ``(k1, re|im)``, tap ``n1``.

    The windowed ``p``-point DFT of the samples ``Q*n1 + n2``, real part then imaginary part.
    """
    n1 = np.arange(p)
    angle = 2.0 * np.pi * np.outer(n1, n1) / p  # [k1, n1]
    window = hann_window(n_fft).reshape(p, q)  # [n1, n2]
    w = np.empty((q, p, 2, p))
    w[:, :, 0, :] = np.cos(angle)[None] * window.T[:, None, :]
    w[:, :, 1, :] = -np.sin(angle)[None] * window.T[:, None, :]
    return w.reshape(q * p * 2, 1, p)


def outer_dft(n_fft: int, p: int, q: int, k2_count: int) -> np.ndarray:
    """Batched-MatMul weights ``[p, k2_count * 2, q * 2]``: per ``k1``, output ``(k2, re|im)``, input ``(n2, re|im)``.

    The twiddle ``e^(-2 pi i n2 k1 / n_fft)`` times the ``q``-point DFT, as a real matrix acting on
    (real, imaginary) pairs.
    """
    n2, k1, k2 = np.arange(q), np.arange(p), np.arange(k2_count)
    theta = 2.0 * np.pi * n2[None, None, :] * (k1[:, None, None] / n_fft + k2[None, :, None] / q)  # [k1, k2, n2]
    c, s = np.cos(theta), -np.sin(theta)  # e^(-i theta) = c + i s
    w = np.empty((p, k2_count, 2, q, 2))
    w[:, :, 0, :, 0], w[:, :, 0, :, 1] = c, -s  # real part: a c - b s
    w[:, :, 1, :, 0], w[:, :, 1, :, 1] = s, c  # imaginary part: a s + b c
    return w.reshape(p, k2_count * 2, q * 2)


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


def _f32(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


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
        self.top_db = top_db
        self.p, self.q = factor(n_fft, hop_length)
        self.stride = hop_length // self.q
        n_bins = n_fft // 2 + 1
        self.k2_count = -(-n_bins // self.p)  # bins k1 + P*k2 computed: P * k2_count >= n_bins
        # constants of the config, rebuilt with the module: not part of a checkpoint's weights
        self.register_buffer("inner", _f32(inner_dft(n_fft, self.p, self.q)), persistent=False)
        self.register_buffer("outer", _f32(outer_dft(n_fft, self.p, self.q, self.k2_count)), persistent=False)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
        k = np.arange(self.p)[:, None] + self.p * np.arange(self.k2_count)[None, :]  # [k1, k2] -> bin
        mel = np.where(k < n_bins, fb[:, np.minimum(k, n_bins - 1)], 0.0)  # [n_mels, k1, k2]
        self.register_buffer("mel", _f32(mel.reshape(n_mels, -1)), persistent=False)

    def macs(self, frames: int) -> int:
        """Multiply-accumulates for one window of ``frames`` frames (the two DFT stages and the mel MatMul)."""
        bins = self.p * self.k2_count
        return frames * (self.inner.shape[0] * self.p + 4 * bins * self.q + self.mel.shape[0] * bins)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        b, s = audio.shape
        p, q = self.p, self.q
        if s % q:
            audio = audio[:, : s - s % q]  # a frame never reaches the last s % q samples
        rows = audio.reshape(b, -1, q).transpose(1, 2)  # [B, Q, S/Q]: column n2 of each row
        inner = nn.functional.conv1d(rows, self.inner, stride=self.stride, groups=q)  # [B, Q*P*2, F]
        frames = inner.shape[-1]
        inner = inner.reshape(b, q, p, 2, frames).transpose(1, 2).reshape(b, p, 2 * q, frames)
        spec = torch.matmul(self.outer, inner).reshape(b, p, self.k2_count, 2, frames)  # [B, k1, k2, re|im, F]
        power = (spec * spec).sum(dim=3).reshape(b, p * self.k2_count, frames)  # [B, bins, F]
        mel = torch.matmul(self.mel, power)  # [B, n_mels, F]
        db = torch.log(torch.clamp(mel, min=AMIN)) * (10.0 / math.log(10.0))
        peak = db.amax(dim=(1, 2), keepdim=True)
        return torch.maximum(db, peak - self.top_db)
