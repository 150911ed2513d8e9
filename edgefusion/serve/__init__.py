"""Serving an artifact from a Triton Inference Server."""
