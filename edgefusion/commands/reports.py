"""What several verbs print: per-corpus summaries and scores, score tables, warnings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgefusion.data.corpora import Corpus
from edgefusion.data.corpus import CORPUS_TITLES, Clip, corpus_summary
from edgefusion.data.splits import speaker_names
from edgefusion.labels import CLASSES
from edgefusion.metrics import Scores
from edgefusion.wording import plural

if TYPE_CHECKING:
    from edgefusion.evaluate import ClipPredictions


def corpus_scores(
    corpora: Sequence[Corpus], clips: Sequence[Clip], preds: ClipPredictions, adapted: ClipPredictions | None
) -> dict[str, dict[str, Any]]:
    """Per corpus: its folder, clips, speakers and fused scores (and speaker-adapted ones)."""
    from edgefusion.evaluate import corpus_scores as fused_by_corpus

    scored = {"fused": fused_by_corpus(preds, clips)}
    if adapted is not None:
        scored["fused, speaker-adapted"] = fused_by_corpus(adapted, clips)
    report: dict[str, dict[str, Any]] = {}
    for corpus in corpora:
        entry: dict[str, Any] = {
            "data": str(corpus.data),
            "clips": sum(c.corpus == corpus.name for c in clips),
            "actors": speaker_names(c for c in clips if c.corpus == corpus.name),
        }
        for key, by_corpus in scored.items():
            entry[key] = by_corpus[corpus.name].to_dict()
        report[corpus.name] = entry
    return report


def print_corpus_summaries(corpora: Sequence[Corpus], clips: Sequence[Clip], err: Console) -> None:
    """One line per corpus: its name, folder and ``corpus_summary`` of its clips among ``clips``."""
    for corpus in corpora:
        mine = [c for c in clips if c.corpus == corpus.name]
        err.print(f"{CORPUS_TITLES[corpus.name]} {corpus.data}: {corpus_summary(mine)}")


def print_corpus_scores(out: Console, per_corpus: dict[str, dict[str, Any]]) -> None:
    table = Table(title="fused, per corpus", title_justify="left")
    for col in ("corpus", "DATA", "clips", "actors", "accuracy", "macro-F1"):
        table.add_column(col, justify="right" if col in ("clips", "actors", "accuracy", "macro-F1") else "left")
    adapted = any("fused, speaker-adapted" in e for e in per_corpus.values())
    if adapted:
        table.add_column("adapted accuracy", justify="right")
        table.add_column("adapted macro-F1", justify="right")
    for name, e in per_corpus.items():
        row = [CORPUS_TITLES.get(name, name), e["data"], str(e["clips"]), str(len(e["actors"]))]
        for key in ("fused", "fused, speaker-adapted") if adapted else ("fused",):
            row += [f"{e[key]['accuracy']:.1%}", f"{e[key]['macro_f1']:.3f}"]
        table.add_row(*row)
    out.print(table)


def print_scores(out: Console, name: str, s: Scores) -> None:
    table = Table(
        title=f"{name}: {plural(s.n, 'clip')}, accuracy {s.accuracy:.1%}, macro-F1 {s.macro_f1:.3f}",
        title_justify="left",
    )
    table.add_column("true \\ predicted")
    for c in CLASSES:
        table.add_column(c, justify="right")
    table.add_column("recall", justify="right")
    for code, row in zip(CLASSES, s.confusion, strict=True):
        recall = s.recall.get(code)
        table.add_row(code, *(str(v) for v in row), "-" if recall is None else f"{recall:.0%}")
    out.print(table)


def print_warnings(err: Console, warnings: Sequence[str]) -> None:
    """Each warning on a line of its own, marked as one."""
    for line in warnings:
        err.print(f"[yellow]warning:[/] {escape(line)}", markup=True, highlight=False)
