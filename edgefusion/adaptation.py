"""Speaker adaptation: centre each speaker's audio embedding on the training speakers' mean.

On speakers it was not trained on, much of the model's error is the speaker: a voice's pitch
range and timbre place all of that speaker's windows in one corner of the embedding space.
Removing each speaker's average (speaker normalisation, usual in speech emotion recognition)
takes them back to where the training speakers sat. The network itself is unchanged; its
exported graph takes a per-window ``audio_shift`` [B, D], added to the audio embedding before
the fusion and the audio head, and gives the embedding before the shift, ``audio_embedding``:

    shift = reference - (mean audio embedding over the speaker's windows)

``reference`` [D] is the mean audio embedding over the windows of every training clip, which
``edgefusion train`` stores in the checkpoint and export carries into every artifact. Two ways
to take the speaker's mean, both without labels:

- scoring a corpus (``edgefusion eval --adapt``): each clip is centred on its speaker's OTHER
  clips, so a clip never informs its own shift (``leave_one_out_shifts``);
- live (``edgefusion run``, on by default): a running mean over the session's voiced windows
  (those the voice activity detector passes as speech), applied once it holds ``MIN_WINDOWS``
  of them (``RunningCentre``).

Limits: a speaker's mean is a neutral point only if the speech it averages spans that
speaker's range; a session in one emotion throughout centres that emotion away.

numpy only: the live runtime imports this module, and a Jetson runtime may have no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgefusion.config import REFERENCE_KEY
from edgefusion.errors import EdgefusionError, located

if TYPE_CHECKING:
    from edgefusion.evaluate import ClipPredictions

MIN_WINDOWS = 8  # live: voiced windows averaged before the first shift


class AdaptationError(EdgefusionError):
    """Speaker adaptation asked of a model or artifact that cannot do it."""


def reference_of(extra: dict[str, Any], path: str | Path, adaptable: bool = True) -> np.ndarray:
    """The training reference [D] in an artifact's metadata (``extra``); a one-line error when the
    artifact has none or (``adaptable`` False) its graph takes no shift."""
    if not adaptable:
        problem = "exported before speaker adaptation (no audio_shift input): export it again"
        raise AdaptationError(located(path, problem))
    value = extra.get(REFERENCE_KEY)
    if value is None:
        problem = "carries no training reference for speaker adaptation: train it again with this edgefusion"
        raise AdaptationError(located(path, problem))
    return np.asarray(value, dtype=np.float64)


def training_reference(preds: ClipPredictions) -> np.ndarray:
    """The mean audio embedding [D] over every window with audio of the clips scored in ``preds``."""
    if preds.embedding_sums is None or preds.embedding_counts is None:
        raise AdaptationError("the model gave no audio embedding")
    total = preds.embedding_counts.sum()
    if total == 0:
        raise AdaptationError("no clip has audio: there is no audio embedding to average")
    return preds.embedding_sums.sum(axis=0) / total


def leave_one_out_shifts(preds: ClipPredictions, speakers: Sequence[str], reference: np.ndarray) -> np.ndarray:
    """[N, D]: each clip's shift, centring it on the mean of its speaker's other clips' windows.

    ``speakers``: each clip's speaker, namespaced by corpus (``Clip.speaker``, "ravdess:01"), so
    that actor 01 of two corpora are two speakers. A clip whose speaker has no other clip with
    audio is left unshifted (a zero row).
    """
    if preds.embedding_sums is None or preds.embedding_counts is None:
        raise AdaptationError("the model gave no audio embedding")
    sums, counts = preds.embedding_sums, preds.embedding_counts
    shifts = np.zeros_like(sums)
    speaker_of = np.asarray(speakers)
    for speaker in np.unique(speaker_of):
        rows = np.flatnonzero(speaker_of == speaker)
        total, n = sums[rows].sum(axis=0), counts[rows].sum()
        for i in rows:
            others = n - counts[i]
            if others > 0:
                shifts[i] = reference - (total - sums[i]) / others
    return shifts


class RunningCentre:
    """A live session's speaker shift: ``reference`` minus the running mean of the embeddings seen.

    ``add(embedding)`` after each voiced window; ``shift()`` is zeros until ``min_windows`` were added.
    """

    def __init__(self, reference: np.ndarray, min_windows: int = MIN_WINDOWS) -> None:
        self.reference = np.asarray(reference, dtype=np.float64)
        self.min_windows = min_windows
        self.total = np.zeros_like(self.reference)
        self.count = 0

    def add(self, embedding: np.ndarray) -> None:
        self.total += np.asarray(embedding, dtype=np.float64).reshape(self.total.shape)
        self.count += 1

    @property
    def ready(self) -> bool:
        return self.count >= self.min_windows

    def shift(self) -> np.ndarray:
        """float32 [D]: the shift to feed with the next window."""
        if not self.ready:
            return np.zeros(self.reference.shape, dtype=np.float32)
        return (self.reference - self.total / self.count).astype(np.float32)
