"""Does an artifact compute what its checkpoint computes? Max abs differences on the same feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgefusion.artifact.contract import EMBEDDING_OUTPUT, OUTPUTS, SHIFT_INPUT
from edgefusion.config import ModelConfig
from edgefusion.data.corpus import Clip
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import clip_seconds, cut_window, scoring_starts
from edgefusion.evaluate import collate
from edgefusion.runtime.runner import Runner

# Limits on max |diff| of any logit, relative to the largest logit. float32 kernels that sum in
# another order differ by 1.5e-5 to 3.4e-5 of it on RAVDESS models (logits up to ~4), mostly
# from the log of the front end's quietest bands; an export bug moves logits by far more.
FP32_RELATIVE_TOLERANCE = 1e-4
# float16 keeps ~3 significant digits through ~30 layers
FP16_RELATIVE_TOLERANCE = 0.01


@dataclass
class Parity:
    windows: int
    source: str  # what the feed was made of
    max_abs: dict[str, float]  # output name -> max |artifact - reference|
    scale: float  # max |reference logit| over every output
    agreement: float  # fraction of (window, presence) cases whose fused top-1 class is the same

    @property
    def worst(self) -> float:
        return max(self.max_abs.values())

    @property
    def relative(self) -> float:
        return self.worst / max(self.scale, 1e-12)


def clip_feed(clips: Sequence[Clip], store: ClipStore, cfg: ModelConfig, windows: int = 16) -> dict[str, np.ndarray]:
    """Up to ``windows`` windows, one from each of the clips spread evenly over ``clips``."""
    picks = np.linspace(0, len(clips) - 1, min(windows, len(clips))).round().astype(int)
    cut = []
    for i in picks:
        audio, track = store.audio(clips[i]), store.faces(clips[i])
        starts = scoring_starts(clip_seconds(audio, track, cfg.sample_rate), cfg.window_seconds, 0.5)
        cut.append(cut_window(audio, track, starts[len(starts) // 2], cfg))
    return collate(cut, cfg, force_video=True).feed()


def compare(artifact: Runner, reference: Runner, feed: dict[str, np.ndarray], source: str) -> Parity:
    """Both runners must be active. Every window is run with each presence pattern (both, audio, video)."""
    patterns = (np.array([1.0, 1.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    worst = dict.fromkeys(OUTPUTS, 0.0)
    scale, same = 0.0, 0
    for pattern in patterns:
        run = dict(feed, present=np.tile(pattern, (len(feed["audio"]), 1)).astype(np.float32))
        got, want = artifact.infer(run), reference.infer(run)
        for k in OUTPUTS:
            worst[k] = max(worst[k], float(np.abs(got[k] - want[k]).max()))
            scale = max(scale, float(np.abs(want[k]).max()))
        same += int((got["logits"].argmax(1) == want["logits"].argmax(1)).sum())
    cases = len(feed["audio"]) * len(patterns)
    if artifact.adaptable and reference.adaptable:  # and once through the speaker shift
        embedding = want[EMBEDDING_OUTPUT]  # of the audio alone: the same under every presence pattern
        rng = np.random.default_rng(0)
        run = dict(feed, **{SHIFT_INPUT: (rng.standard_normal(embedding.shape) * embedding.std()).astype(np.float32)})
        got, want = artifact.infer(run), reference.infer(run)
        for k in (*OUTPUTS, EMBEDDING_OUTPUT):
            worst[k] = max(worst.get(k, 0.0), float(np.abs(got[k] - want[k]).max()))
        same += int((got["logits"].argmax(1) == want["logits"].argmax(1)).sum())
        cases += len(feed["audio"])
    return Parity(cases, source, worst, scale, same / cases)
