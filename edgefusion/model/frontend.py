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

    X[k1 + P*k2] = sum_n2 e^(-2 pi i n2 (k1/n_fft + k2/Q)) * Z[k1, n2]
    Z[k1, n2]    = sum_n1 w[Q*n1 + n2] x[Q*n1 + n2] e^(-2 pi i n1 k1/P)

Laid out as rows of ``Q`` samples, frame ``f``'s sample ``(n1, n2)`` is row ``hop/Q * f + n1``,
column ``n2``, so the inner sum ``Z`` for every frame is a grouped convolution over the rows (a
group per column ``n2``, ``P`` taps, ``hop/Q`` rows per frame: framing, window and a ``P``-point
DFT in one op) and the outer sum, twiddles folded in, a batched MatMul. The rows are grouped
a hop at a time, ``[hops, hop/Q, Q]``, and the convolution is a Conv2d over that grid (stride
1, kernel ``ceil(P / (hop/Q))`` hops by ``hop/Q`` rows; taps past ``P`` are zero): ONNX
Runtime runs it about a third faster than the equal Conv1d of stride ``hop/Q``, a tenth of the
whole front end at batch 1. The input is real, so
``Z[P - k1] = conj(Z[k1])``: the Conv computes ``k1 < P/2`` only, ``P`` real outputs per column
(``Z[0]`` and ``Z[P/2]`` are real and share one complex slot), and each batch of the outer
MatMul yields the bins of ``k1`` and of its mirror ``P - k1``. Bins the mel filters give no
weight (past ``f_max``) are not computed. For 400 = 20 x 20 that is about 5 M multiply-adds per
2 s window, where a Conv1d over the full 400-tap DFT basis takes 32 M. The bins come out in
``(k1 pair, mirror, k2)`` order; the mel matrix is laid out in the same order.
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


def inner_dft(n_fft: int, p: int, q: int, rows_per_hop: int) -> np.ndarray:
    """Grouped-Conv2d weights ``[q * h * 2, 1, hops, rows_per_hop]``, ``h = (p + 1) // 2``.

    Output ``(n2, j, re|im)``: the windowed ``p``-point DFT of column ``n2``'s samples
    ``Q*n1 + n2`` at ``k1 = j < p/2``, real then imaginary part; the other bins are conjugates of
    these. Tap ``(a, c)`` is the frame's row ``n1 = rows_per_hop * a + c``; ``hops = ceil(p /
    rows_per_hop)`` and the taps with ``n1 >= p`` are zero. ``Z[0]`` is real, so its imaginary
    output carries the real bin ``Z[p/2]`` instead (zero when ``p`` is odd).
    """
    h = (p + 1) // 2
    angle = 2.0 * np.pi * np.outer(np.arange(h), np.arange(p)) / p  # [j, n1]
    basis = np.stack([np.cos(angle), -np.sin(angle)], axis=1)  # [j, re|im, n1]
    basis[0, 1] = np.cos(np.pi * np.arange(p)) if p % 2 == 0 else 0.0  # Z[p/2] = sum (-1)^n1 ...
    window = hann_window(n_fft).reshape(p, q)  # [n1, n2]
    w = basis[None] * window.T[:, None, None, :]  # [n2, j, re|im, n1]
    hops = -(-p // rows_per_hop)
    taps = np.zeros((*w.shape[:3], hops * rows_per_hop))
    taps[..., :p] = w
    return taps.reshape(q * h * 2, 1, hops, rows_per_hop)


def outer_slots(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Which bins each outer batch ``j`` computes from the inner output ``Z[j] = a + i b``.

    Returns ``k1`` ``[h, 2]`` (slot 0 and slot 1; -1 for a slot with nothing to compute) and
    ``source`` ``[h, 2, 2]`` complex: ``Z[k1] = source[.., 0] * a + source[.., 1] * b``. Batch
    ``j >= 1`` gives ``k1 = j`` (``a + i b``) and its mirror ``p - j`` (``a - i b``); batch 0
    gives ``k1 = 0`` (``a``) and, for even ``p``, ``k1 = p/2`` (``b``).
    """
    h = (p + 1) // 2
    j = np.arange(h)
    k1 = np.stack([j, np.where(j > 0, p - j, p // 2 if p % 2 == 0 else -1)], axis=1)
    source = np.zeros((h, 2, 2), dtype=complex)
    source[1:, 0] = (1, 1j)
    source[1:, 1] = (1, -1j)
    source[0, 0] = (1, 0)
    source[0, 1] = (0, 1) if p % 2 == 0 else (0, 0)
    return k1, source


def outer_dft(n_fft: int, p: int, q: int, k2_count: int) -> np.ndarray:
    """Batched-MatMul weights ``[h, 2 * 2 * k2_count, q * 2]``: the real, then the imaginary part of the bins.

    Per batch ``j``: output ``(re|im, slot, k2)``, bin ``k1 + P*k2`` with ``k1`` from
    ``outer_slots``; input ``(n2, re|im)`` of ``Z[j]``. The twiddle ``e^(-2 pi i n2 k1 / n_fft)``
    times the ``q``-point DFT, applied to the slot's ``Z[k1]``. One MatMul for both parts: at
    batch 1 ONNX Runtime runs it about 15% faster than two (measured on the whole front end).
    """
    k1, source = outer_slots(p)
    n2, k2 = np.arange(q), np.arange(k2_count)
    theta = 2.0 * np.pi * n2 * (k1[:, :, None, None] / n_fft + k2[:, None] / q)  # [j, slot, k2, n2]
    w = np.exp(-1j * theta)[..., None] * source[:, :, None, None, :]  # [j, slot, k2, n2, re|im]
    shape = (len(k1), 2 * k2_count, q * 2)
    return np.concatenate([w.real.reshape(shape), w.imag.reshape(shape)], axis=1)


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
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """``dtype``: of the DFT and mel constants; float64 only for reference computations in tests."""
        super().__init__()
        self.n_fft = n_fft
        self.p, self.q = factor(n_fft, hop_length)
        self.hop = hop_length
        self.rows_per_hop = hop_length // self.q
        self.h = (self.p + 1) // 2  # inner bins computed; the others are their conjugates
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)  # [n_mels, bins]
        used = int(np.flatnonzero(fb.any(axis=0))[-1]) + 1  # bins past the last filter are not computed
        k2_count = -(-used // self.p)
        # constants of the config, rebuilt with the module: not part of a checkpoint's weights
        self.register_buffer(
            "inner", torch.tensor(inner_dft(n_fft, self.p, self.q, self.rows_per_hop), dtype=dtype), persistent=False
        )
        self.register_buffer(
            "outer", torch.tensor(outer_dft(n_fft, self.p, self.q, k2_count), dtype=dtype), persistent=False
        )
        k1, _ = outer_slots(self.p)
        k = k1[:, :, None] + self.p * np.arange(k2_count)  # [j, slot, k2] -> bin
        live = (k1[:, :, None] >= 0) & (k < used)
        mel = np.where(live, fb[:, np.clip(k, 0, used - 1)], 0.0)  # [n_mels, j, slot, k2]
        self.register_buffer("mel", torch.tensor(mel.reshape(n_mels, -1), dtype=dtype), persistent=False)
        self.floor = 10.0 ** (-top_db / 10.0)  # top_db below the peak, as a power ratio

    def macs(self, frames: int) -> int:
        """Multiply-accumulates for one window of ``frames`` frames (the two DFT stages and the mel MatMul)."""
        per_frame = self.inner.numel() + self.outer.numel() + self.mel.numel()
        return frames * per_frame

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        b, s = audio.shape
        q, h, hop = self.q, self.h, self.hop
        frames = 1 + (s - self.n_fft) // hop
        need = (frames + self.inner.shape[2] - 1) * hop  # whole hops the frames' taps cover
        if need > s:  # the last frame ends inside a hop: samples past the audio meet only zero taps
            audio = nn.functional.pad(audio, (0, need - s))
        elif need < s:  # no frame reaches the tail
            audio = audio[:, :need]
        grid = audio.reshape(b, -1, self.rows_per_hop, q).permute(0, 3, 1, 2)  # [B, Q, hops, rows]: column n2
        inner = nn.functional.conv2d(grid, self.inner, groups=q)  # [B, Q*H*2, F, 1]
        inner = inner.reshape(b, q, h, 2, frames).transpose(1, 2).reshape(b, h, 2 * q, frames)  # [B, j, (n2, re|im), F]
        parts = torch.matmul(self.outer, inner)  # [B, j, (re|im, slot, k2), F]
        power = (parts * parts).reshape(b, h, 2, -1, frames).sum(dim=2).reshape(b, -1, frames)  # [B, bins, F]
        mel = torch.matmul(self.mel, power)  # [B, n_mels, F]
        # 10 log10 of the power, floored at AMIN and at top_db below the window's peak: one Log
        floor = torch.clamp(mel.amax(dim=(1, 2), keepdim=True) * self.floor, min=AMIN)
        return torch.log(torch.maximum(mel, floor)) * (10.0 / math.log(10.0))
