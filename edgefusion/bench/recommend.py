"""Which artifact to ship: the fastest within an accuracy drop, or the most accurate within a latency budget.

Accuracy is compared with a reference: the float32 artifact when there is one (the model as
trained), else the most accurate artifact. Latency is judged on p99, the figure a live
pipeline must fit into its hop, not the median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    name: str
    precision: str
    accuracy: float  # 0..1
    p99_ms: float
    median_ms: float


@dataclass(frozen=True)
class Recommendation:
    choice: str | None  # None: nothing meets the constraints
    reason: str  # one line

    def to_dict(self) -> dict[str, str | None]:
        return {"choice": self.choice, "reason": self.reason}


def _reference(candidates: Sequence[Candidate]) -> Candidate:
    fp32 = [c for c in candidates if c.precision == "fp32"]
    return max(fp32 or candidates, key=lambda c: c.accuracy)


def _most_accurate(candidates: Sequence[Candidate]) -> Candidate | None:
    """The most accurate candidate (ties: the lower p99), or None when there is none."""
    return max(candidates, key=lambda c: (c.accuracy, -c.p99_ms), default=None)


def recommend(candidates: Sequence[Candidate], max_drop: float = 1.0, budget_ms: float | None = None) -> Recommendation:
    """Pick an artifact. ``max_drop`` is in accuracy points against the reference.

    Without a budget: the fastest (lowest p99) artifact losing at most ``max_drop`` points.
    With a budget: the most accurate artifact whose p99 fits it (ties: the faster), also held
    to ``max_drop``.
    """
    if not candidates:
        raise ValueError("no candidates")
    ref = _reference(candidates)

    def drop(c: Candidate) -> float:
        return 100 * (ref.accuracy - c.accuracy)

    within_drop = [c for c in candidates if drop(c) <= max_drop + 1e-9]
    if budget_ms is None:
        best = min(within_drop, key=lambda c: (c.p99_ms, -c.accuracy))
        faster = ref.p99_ms / best.p99_ms
        versus = "" if best is ref else f", {faster:.2f}x the p99 speed of {ref.name}"
        return Recommendation(
            best.name,
            f"{best.name}: the fastest within {max_drop:g} pt of {ref.name} "
            f"(p99 {best.p99_ms:.2f} ms, accuracy {best.accuracy:.1%}, {-drop(best):+.1f} pt{versus})",
        )
    fits = [c for c in within_drop if c.p99_ms <= budget_ms]
    if not fits:
        # name what each constraint alone would allow, so the user sees which one to relax
        fastest = min(within_drop, key=lambda c: c.p99_ms)  # never empty: the reference loses nothing
        accurate = _most_accurate([c for c in candidates if c.p99_ms <= budget_ms])
        other = (
            f"; within the budget, {accurate.name} loses {drop(accurate):.1f} pt"
            if accurate is not None
            else f"; none has p99 <= {budget_ms:g} ms"
        )
        return Recommendation(
            None,
            f"nothing fits: no artifact within {max_drop:g} pt of {ref.name} has p99 <= {budget_ms:g} ms "
            f"(the fastest within {max_drop:g} pt, {fastest.name}, has p99 {fastest.p99_ms:.2f} ms{other})",
        )
    best = _most_accurate(fits)
    assert best is not None
    return Recommendation(
        best.name,
        f"{best.name}: the most accurate with p99 within {budget_ms:g} ms "
        f"(p99 {best.p99_ms:.2f} ms, accuracy {best.accuracy:.1%}, {-drop(best):+.1f} pt against {ref.name})",
    )
