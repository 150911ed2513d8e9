"""Corpora: readers for the CREMA-D and RAVDESS layouts, decoding, caching, splits, windows."""
