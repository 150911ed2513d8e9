"""``edgefusion doctor``: what this machine can run, and how to fix what it cannot.

``report`` runs every probe and prints the table (``run_doctor``); the probes live in ``stack``
(the software and the compute: Python, PyTorch, GPU, TensorRT, ONNX Runtime, OpenCV, disk) and
``board`` (microphones, cameras, a Jetson's releases and power mode); ``base`` holds the
``Check`` line and the helpers that keep every probe quick and never raising.
"""
