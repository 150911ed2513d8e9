"""Representative data for calibration: clips drawn across classes and actors, one window each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np

from edgefusion.artifact.contract import SHIFT_INPUT
from edgefusion.config import ModelConfig
from edgefusion.data.corpus import Clip
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import random_window
from edgefusion.errors import DataError
from edgefusion.evaluate import collate

DEFAULT_SAMPLES = 256  # calibration clips when --samples is not given (fewer when DATA has fewer)


def draw_clips(clips: Sequence[Clip], samples: int, seed: int = 0, source: str = "DATA") -> list[Clip]:
    """``samples`` clips, round-robin over (class, speaker) cells so every class and speaker is represented.

    Raises ``DataError`` when there are fewer clips than asked for.
    """
    if samples <= 0:
        raise DataError(f"--samples must be positive, got {samples}")
    if len(clips) < samples:
        raise DataError(f"{source}: {len(clips)} clips, fewer than the {samples} asked for by --samples")
    rng = np.random.default_rng(seed)
    cells: dict[tuple[int, str], list[Clip]] = defaultdict(list)
    for clip in clips:
        cells[(clip.label, clip.speaker)].append(clip)
    queues = [list(rng.permutation(len(v))) for v in cells.values()]
    groups = list(cells.values())
    order = rng.permutation(len(groups))
    chosen: list[Clip] = []
    while len(chosen) < samples:
        for g in order:
            if queues[g] and len(chosen) < samples:
                chosen.append(groups[g][queues[g].pop()])
    return chosen


class WindowFeeds:
    """Feeds for ONNX Runtime's calibrators: one random window per clip, in batches of ``batch``.

    Implements ``onnxruntime.quantization.CalibrationDataReader``'s protocol (``get_next``,
    ``rewind``, and ``__len__`` / ``set_range`` for calibrating in strides) and plain iteration.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        store: ClipStore,
        cfg: ModelConfig,
        batch: int = 1,
        seed: int = 0,
        with_shift: bool = False,
    ) -> None:
        """``with_shift``: the graph takes ``audio_shift``; it is fed zeros (unadapted). The shift
        enters after the trunk's pooling, where the graph stays float32, so it moves no range."""
        rng = np.random.default_rng(seed)
        self.windows = [random_window(store.audio(c), store.faces(c), cfg, rng) for c in clips]
        self.cfg, self.batch, self.with_shift = cfg, batch, with_shift
        self.has_video = any(w.video is not None for w in self.windows)
        self._iter: Iterator[dict[str, np.ndarray]] | None = None
        self._range = (0, len(self))

    def __len__(self) -> int:
        """Number of feeds (batches)."""
        return -(-len(self.windows) // self.batch)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Restrict ``get_next`` to feeds ``start_index`` .. ``end_index - 1``."""
        self._range = (start_index, min(end_index, len(self)))
        self._iter = None

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for first in range(0, len(self.windows), self.batch):
            feed = collate(self.windows[first : first + self.batch], self.cfg, force_video=True).feed()
            if self.with_shift:
                feed[SHIFT_INPUT] = np.zeros((len(feed["audio"]), self.cfg.embed_dim), dtype=np.float32)
            yield feed

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            start, end = self._range
            self._iter = (feed for i, feed in enumerate(self) if start <= i < end)
        return next(self._iter, None)

    def rewind(self) -> None:
        self._range = (0, len(self))
        self._iter = None
