"""Decoding audio files to the model's input: float32 mono PCM at one sample rate.

``soundfile`` (libsndfile) decodes WAV, FLAC, OGG/Vorbis and the other formats it knows;
channels are averaged to mono and ``soxr`` resamples band-limited when the file's rate differs.
Every problem a file can have is a one-line ``DataError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from edgefusion.config import SAMPLE_RATE
from edgefusion.errors import DataError, located, require_file

RESAMPLE_QUALITY = "HQ"  # soxr's high-quality band-limited filter


def _check_file(path: Path) -> None:
    require_file(path, "audio file")


def _unreadable(path: Path, err: Exception) -> DataError:
    """The one-line error for a file libsndfile refuses, with libsndfile's own reason."""
    reason = getattr(err, "error_string", None) or str(err)
    return DataError(located(path, f"not a readable audio file: {reason}"))


def duration_seconds(path: str | Path) -> float:
    """Length of an audio file in seconds, read from its header (nothing is decoded)."""
    path = Path(path)
    _check_file(path)
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as err:
        raise _unreadable(path, err) from None
    return info.frames / info.samplerate if info.samplerate > 0 else 0.0


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an audio file to mono at ``sample_rate``.

    Returns float32 ``[S]`` in [-1, 1], S ≈ frames * sample_rate / file_rate. Channels are
    averaged; the rate is converted with soxr (``"HQ"``) only when it differs. Raises
    ``DataError`` (one line, naming the file) for a missing file, a directory, an empty or
    undecodable file, a file with no samples, and one with NaN/inf samples.
    """
    path = Path(path)
    _check_file(path)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)  # [S, C]
    except (sf.SoundFileError, RuntimeError) as err:
        raise _unreadable(path, err) from None
    if data.shape[0] == 0:
        raise DataError(located(path, "contains no audio samples"))
    if not np.isfinite(data).all():
        raise DataError(located(path, "contains non-finite samples (NaN or inf)"))
    mono = data.mean(axis=1, dtype=np.float32)  # [S]
    if file_rate != sample_rate:
        mono = soxr.resample(mono, file_rate, sample_rate, quality=RESAMPLE_QUALITY)
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)


def fit_length(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """The ``n`` samples of ``x`` [S] starting at ``offset``, zero-padded at the end.

    Returns a new array ``[n]`` of ``x``'s dtype; an offset past the end (or a clip shorter than
    the window) gives the available samples followed by zeros, never an error. A negative offset
    counts as 0.
    """
    if n < 0:
        raise ValueError(f"fit_length: n must be >= 0, got {n}")
    offset = max(int(offset), 0)
    out = np.zeros(n, dtype=x.dtype)
    piece = x[offset : offset + n]
    out[: len(piece)] = piece
    return out


def change_speed(x: np.ndarray, speed: float, sample_rate: int) -> np.ndarray:
    """``x`` [S] played ``speed`` times faster: [~S / speed], pitch and tempo scaled together.

    The classic speed perturbation of speech training (Ko et al., 2015): resampled as if it had
    been recorded at ``sample_rate * speed``, so 1.1 is a tenth faster and higher, 0.9 slower
    and lower, and the voice's formants move with its pitch like another speaker's would.
    """
    if speed <= 0:
        raise ValueError(f"change_speed: speed must be > 0, got {speed}")
    if speed == 1.0:
        return x
    return soxr.resample(x, sample_rate * speed, sample_rate, quality=RESAMPLE_QUALITY)
