"""edgefusion: train, export, quantize, compile and run a shared-encoder audio-visual emotion model."""

__version__ = "0.2.0"
