"""torch -> ONNX export, simplification and graph checks (a later issue)."""
