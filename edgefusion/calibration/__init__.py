"""INT8 calibration and quantization (a later issue)."""
