"""Runners, sources, face tracking and the streaming pipeline (a later issue)."""
