"""Latency and accuracy benchmarks (a later issue)."""
