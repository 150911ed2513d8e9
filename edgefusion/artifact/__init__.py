"""What an edgefusion artifact is, apart from how it is made or run.

``contract``: the tensor names, types and shapes every artifact answers to; ``metadata``: what
an ONNX file says about itself (config, classes, contract, precision) and its check against the
graph; ``graph``: reading an exported graph (its front end, its fusion, its quantization);
``sidecar``: an engine's build record; ``calibration_cache``: TensorRT's INT8 calibration cache.
Export and calibration write these, the runtime reads them; neither imports the other.
"""
