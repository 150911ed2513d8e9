"""The accuracy gate: a quantized artifact is scored against its float32 parent before it is accepted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefusion.config import SCORING_HOP
from edgefusion.data.corpus import Clip
from edgefusion.data.splits import speaker_names
from edgefusion.data.store import ClipStore
from edgefusion.evaluate import predict_clips
from edgefusion.labels import CLASSES
from edgefusion.metrics import Scores
from edgefusion.runtime.runner import open_runner


@dataclass
class Verdict:
    fp32: Scores
    candidate: Scores
    max_drop: float  # accuracy points
    clips: int
    actors: list[str]

    @property
    def drop(self) -> float:
        """Accuracy points lost (negative when the candidate scores higher)."""
        return 100.0 * (self.fp32.accuracy - self.candidate.accuracy)

    @property
    def passed(self) -> bool:
        return self.drop <= self.max_drop

    def line(self, name: str) -> str:
        verb = "accepted" if self.passed else "REJECTED"
        return (
            f"{name} {verb}: accuracy {self.candidate.accuracy:.1%} vs float32 {self.fp32.accuracy:.1%} "
            f"({-self.drop:+.1f} points, limit -{self.max_drop:g}) on {self.clips} held-out clips of actors "
            f"{','.join(self.actors)}"
        )

    def to_dict(self) -> dict[str, Any]:
        recall_change = {
            c: round(self.candidate.recall[c] - self.fp32.recall[c], 4)
            for c in CLASSES
            if self.candidate.recall.get(c) is not None and self.fp32.recall.get(c) is not None
        }
        return {
            "eval_clips": self.clips,
            "eval_actors": self.actors,
            "fp32": {"accuracy": self.fp32.accuracy, "macro_f1": self.fp32.macro_f1},
            "quantized": {"accuracy": self.candidate.accuracy, "macro_f1": self.candidate.macro_f1},
            "accuracy_drop_points": round(self.drop, 3),
            "max_drop_points": self.max_drop,
            "passed": self.passed,
            "recall_change": recall_change,
        }


def score_artifact(
    path: str | Path,
    clips: Sequence[Clip],
    store: ClipStore,
    hop: float = SCORING_HOP,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    backend: str | None = None,
) -> Scores:
    """Fused clip-level scores of any artifact, run by its runner."""
    with open_runner(path, backend, threads=threads) as runner:
        return predict_clips(runner, clips, store, hop, progress=progress).scores()["fused"]


def gate(fp32: Scores, candidate: Scores, max_drop: float, clips: Sequence[Clip]) -> Verdict:
    return Verdict(fp32, candidate, max_drop, len(clips), speaker_names(clips))
