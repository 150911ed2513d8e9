"""Classification metrics over whole clips: accuracy, macro-F1, per-class recall, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefusion.labels import CLASSES


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis of ``logits`` (shifted by the maximum, so it never overflows)."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@dataclass
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    undecided: int = 0  # clips with no decision (a miss each; in no confusion column)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "undecided": self.undecided,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "recall": self.recall,
            "confusion": self.confusion,
            "classes": list(CLASSES),
        }


NO_DECISION = -1  # a clip's prediction when no window of it was decided


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, k: int = len(CLASSES)) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def score(labels: np.ndarray, preds: np.ndarray) -> Scores:
    """Metrics of predicted class indices against true ones. Macro-F1 averages the classes
    present in ``labels`` (a class absent from the data would otherwise score 0). A prediction of
    ``NO_DECISION`` (the clip gave the model nothing to decide on, e.g. no speech) is a miss: it
    counts in ``n`` and against accuracy and recall, and in no column of the confusion matrix."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    decided = preds != NO_DECISION
    cm = confusion_matrix(labels[decided], preds[decided])
    support = np.bincount(labels, minlength=len(CLASSES))
    predicted, hits = cm.sum(0), np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = support > 0
    return Scores(
        n=len(labels),
        accuracy=float((labels == preds).mean()) if len(labels) else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        recall={c: float(r) for c, r, p in zip(CLASSES, recall, present, strict=True) if p},
        confusion=cm.tolist(),
        undecided=int((~decided).sum()),
    )
