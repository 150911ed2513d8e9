"""Counts in messages: '1 clip', '2 clips'."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``"1 clip"``, ``"0 clips"``, ``"2 clips"``; ``nouns`` for an irregular plural."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"
