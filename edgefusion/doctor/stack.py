"""Probes of the software stack and the compute it runs on: Python, the OS and CPU, PyTorch and CUDA,
the NVIDIA GPU, TensorRT, pycuda, ONNX Runtime, onnx and onnxsim, OpenCV, the disk, edgefusion itself."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from edgefusion import __version__
from edgefusion.doctor.base import (
    OPENCV_FIX,
    SUBPROCESS_TIMEOUT_S,
    Check,
    first_line,
    key_values,
    read_text,
    run_tool,
    version_of,
)
from edgefusion.doctor.board import is_jetson
from edgefusion.errors import EdgefusionError

MIN_PYTHON = (3, 10)  # JetPack 6 ships Python 3.10 (Ubuntu 22.04)
MIN_FREE_GIB = 2.0  # below this the clip cache (decoded audio and face crops) runs out
GIB = 1 << 30
OS_RELEASE = Path("/etc/os-release")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
# A discrete GPU's driver node; the integrated GPU's on JetPack 6 and on JetPack 5.
GPU_NODES = (Path("/dev/nvidia0"), Path("/dev/nvgpu/igpu0"), Path("/dev/nvhost-ctrl-gpu"))
GSTREAMER_LINE = re.compile(r"^\s*GStreamer:\s*(.+?)\s*$", re.MULTILINE)
PYTHON_FIX = "use Python 3.10 or newer (JetPack 6 ships 3.10): python3.10 -m venv .venv"
TORCH_FIX = (
    "pip install torch --index-url https://download.pytorch.org/whl/cpu (the CPU build), or `make venv`; "
    "on Jetson: NVIDIA's PyTorch wheel for your JetPack"
)
TORCH_CUDA_FIX = (
    "this torch is a CPU build: install a CUDA build (pip install torch from https://download.pytorch.org/whl/cu126); "
    "on Jetson: NVIDIA's PyTorch wheel for your JetPack"
)
GPU_DRIVER_FIX = "nvidia-smi fails: install or repair the NVIDIA driver (then `nvidia-smi` should list the GPU)"
TRT_FIX = (
    "on Jetson: sudo apt install python3-libnvinfer (JetPack), and make the venv with "
    "`python3 -m venv --system-site-packages` so it sees it; on a PC with an NVIDIA GPU: "
    "pip install 'edgefusion[tensorrt]' --extra-index-url https://pypi.nvidia.com"
)
PYCUDA_FIX = (
    "pip install pycuda (in edgefusion[tensorrt]); it compiles against CUDA, so it needs the CUDA driver and "
    "nvcc on PATH (export PATH=/usr/local/cuda/bin:$PATH; on Jetson that is JetPack's CUDA)"
)
ORT_FIX = "pip install onnxruntime"
ORT_GPU_FIX = (
    "pip uninstall -y onnxruntime && pip install onnxruntime-gpu (CUDA and TensorRT execution providers; "
    "keep only one of the two installed); on Jetson: an onnxruntime-gpu wheel built for your JetPack"
)
ONNX_FIX = "pip install onnx"
ONNXSIM_FIX = "pip install onnxsim (export then simplifies the graph; without it the graph is kept unsimplified)"
GSTREAMER_FIX = (
    "pip's opencv-python has no GStreamer. On Jetson: use JetPack's OpenCV (sudo apt install nvidia-opencv) "
    "from a venv made with --system-site-packages, after pip uninstall opencv-python; elsewhere: an OpenCV "
    "built with -D WITH_GSTREAMER=ON"
)
DISK_FIX = f"free some space or point --cache-dir at a larger disk (at least {MIN_FREE_GIB:g} GiB free)"
EDGEFUSION_FIX = "the installed metadata is stale: pip install -e . (or make venv) again"


def _nvidia_gpu_present() -> bool:
    """Whether a driver node of an NVIDIA GPU (discrete or a Jetson's) exists."""
    return any(node.exists() for node in GPU_NODES) or is_jetson()


def check_python() -> list[Check]:
    version = platform.python_version()
    where = f"{platform.python_implementation()} at {sys.executable}"
    if sys.version_info[:2] >= MIN_PYTHON:
        return [Check("Python", True, f"{version} ({where}); JetPack 6 ships 3.10")]
    return [Check("Python", False, f"{version} ({where}) is older than 3.10", PYTHON_FIX)]


def _os_name() -> str:
    text = read_text(OS_RELEASE) or ""
    pretty = key_values(text, "=").get("PRETTY_NAME", "").strip('"')
    return pretty or platform.system()


def cpu_model() -> str:
    info = key_values(read_text(CPUINFO) or "")
    model = info.get("model name") or info.get("Model name")
    if not model:  # ARM kernels (a Jetson's) do not name the core in /proc/cpuinfo; lscpu does
        try:
            result = run_tool(["lscpu"])
        except subprocess.TimeoutExpired:
            result = None
        if result is not None and result.returncode == 0:
            model = key_values(result.stdout).get("Model name")
    return model or platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    total = key_values(read_text(MEMINFO) or "").get("MemTotal", "")
    match = re.match(r"(\d+)\s*kB", total)
    return int(match.group(1)) * 1024 / GIB if match else None


def check_system() -> list[Check]:
    kernel = f"{_os_name()}, kernel {platform.release()}, {platform.machine()}"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    memory = _memory_gib()
    cpu = f"{cpu_model()}, {cores} cores ({usable} usable)"
    if memory is not None:
        cpu += f", {memory:.1f} GiB RAM"
    return [Check("OS", True, kernel), Check("CPU", True, cpu)]


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as e:
        missing = f"not importable ({first_line(e)}): train, export and .pt checkpoints need it; artifacts do not"
        return [Check("torch", False, missing, TORCH_FIX), Check("torch CUDA", None, "torch is missing", TORCH_FIX)]
    version = version_of(torch)
    cuda_build = torch.version.cuda
    lines = [Check("torch", True, f"{version} ({'CUDA ' + cuda_build if cuda_build else 'CPU'} build)")]
    if cuda_build is None:
        if _nvidia_gpu_present():
            detail = f"{version} is a CPU build, but this machine has an NVIDIA GPU"
            lines.append(Check("torch CUDA", False, detail, TORCH_CUDA_FIX))
        else:
            lines.append(Check("torch CUDA", None, "CPU build, and no NVIDIA GPU here: the CPU path is used"))
        return lines
    if not torch.cuda.is_available():
        if _nvidia_gpu_present():
            detail = f"built for CUDA {cuda_build}, but it cannot use the GPU (driver missing or too old?)"
            lines.append(Check("torch CUDA", False, detail, GPU_DRIVER_FIX))
        else:
            lines.append(Check("torch CUDA", None, f"built for CUDA {cuda_build}, but no NVIDIA GPU here"))
        return lines
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    detail = f"CUDA {cuda_build}, {torch.cuda.device_count()} device(s), cuDNN {cudnn or 'not available'}"
    lines.append(Check("torch CUDA", True, detail))
    return lines


def _gpus_from_torch() -> list[str]:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    names = []
    for index in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(index)
        names.append(f"{torch.cuda.get_device_name(index)} (compute {major}.{minor})")
    return names


def _smi_line(line: str) -> str:
    """'NVIDIA H100 80GB HBM3, 550.54.15, 9.0' -> 'NVIDIA H100 80GB HBM3 (driver 550.54.15, compute 9.0)'."""
    name, *rest = (part.strip() for part in line.split(","))
    labels = [f"{label} {value}" for label, value in zip(("driver", "compute"), rest, strict=False)]
    return f"{name} ({', '.join(labels)})" if labels else name


def _gpus_from_nvidia_smi() -> tuple[list[str], str | None]:
    """(GPUs nvidia-smi lists, its error line or None); ([], None) when it is not installed."""
    fields = ["name", "driver_version", "compute_cap"]
    result = None
    for query in (fields, fields[:2]):  # compute_cap needs a newer nvidia-smi
        result = run_tool(["nvidia-smi", f"--query-gpu={','.join(query)}", "--format=csv,noheader"])
        if result is None:
            return [], None
        if result.returncode == 0:
            return [_smi_line(line) for line in result.stdout.strip().splitlines() if line.strip()], None
    error = (result.stdout or result.stderr).strip().splitlines() if result is not None else []
    return [], error[0] if error else "nvidia-smi failed"


def check_gpu() -> list[Check]:
    gpus = _gpus_from_torch()
    if gpus:
        return [Check("NVIDIA GPU", True, "; ".join(gpus) + " (via torch.cuda)")]
    try:
        smi_gpus, error = _gpus_from_nvidia_smi()
    except subprocess.TimeoutExpired:
        smi_gpus, error = [], f"no answer within {SUBPROCESS_TIMEOUT_S:g} s"
    if smi_gpus:
        return [Check("NVIDIA GPU", True, "; ".join(smi_gpus) + " (via nvidia-smi)")]
    if error is not None:
        return [Check("NVIDIA GPU", False, f"nvidia-smi: {error}", GPU_DRIVER_FIX)]
    if is_jetson():
        return [Check("NVIDIA GPU", True, "integrated GPU of this Jetson (no CUDA torch or nvidia-smi to name it)")]
    return [Check("NVIDIA GPU", None, "no NVIDIA GPU found: ONNX Runtime on the CPU is the way to run here")]


def check_tensorrt() -> list[Check]:
    try:
        import tensorrt
    except ImportError as e:
        return [Check("TensorRT", False, f"not installed ({first_line(e)}): `edgefusion build` needs it", TRT_FIX)]
    except OSError as e:  # the bindings are there but libnvinfer does not load
        return [Check("TensorRT", False, f"its libraries do not load ({first_line(e)})", TRT_FIX)]
    where = Path(tensorrt.__file__).parent if getattr(tensorrt, "__file__", None) else "a namespace package"
    return [Check("TensorRT", True, f"{version_of(tensorrt)} (at {where})")]


def check_pycuda() -> list[Check]:
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        return [Check("pycuda", False, f"not installed ({first_line(e)}): the TensorRT runner needs it", PYCUDA_FIX)]
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as e:
        return [Check("pycuda", False, f"imports, but the CUDA driver does not start ({first_line(e)})", PYCUDA_FIX)]
    version = getattr(sys.modules.get("pycuda"), "VERSION_TEXT", "?")
    return [Check("pycuda", count > 0, f"{version}, {count} CUDA device(s)", "" if count else GPU_DRIVER_FIX)]


def _short(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider")


def check_onnxruntime() -> list[Check]:
    try:
        import onnxruntime as ort
    except ImportError as e:
        missing = f"not importable ({first_line(e)})"
        return [Check("ONNX Runtime", False, missing, ORT_FIX), Check("ONNX Runtime GPU", None, missing, ORT_FIX)]
    providers = list(ort.get_available_providers())
    listed = ", ".join(_short(p) for p in providers)
    cpu = "CPUExecutionProvider" in providers
    lines = [Check("ONNX Runtime", cpu, f"{version_of(ort)}, providers: {listed}", "" if cpu else ORT_FIX)]
    gpu_providers = [_short(p) for p in providers if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]
    if gpu_providers:
        detail = f"{', '.join(gpu_providers)} in this build (they load only where CUDA and cuDNN libraries do)"
        lines.append(Check("ONNX Runtime GPU", True, detail))
    elif _nvidia_gpu_present():
        lines.append(Check("ONNX Runtime GPU", False, "a CPU-only build on a machine with an NVIDIA GPU", ORT_GPU_FIX))
    else:
        lines.append(Check("ONNX Runtime GPU", None, "CPU-only build; no NVIDIA GPU here to use", ORT_GPU_FIX))
    return lines


def check_onnx() -> list[Check]:
    lines = []
    try:
        import onnx

        lines.append(Check("onnx", True, f"{version_of(onnx)}, opset {onnx.defs.onnx_opset_version()}"))
    except ImportError as e:
        lines.append(Check("onnx", False, f"not importable ({first_line(e)})", ONNX_FIX))
    try:
        import onnxsim

        lines.append(Check("onnxsim", True, version_of(onnxsim).lstrip("v")))
    except ImportError as e:
        lines.append(Check("onnxsim", False, f"not importable ({first_line(e)})", ONNXSIM_FIX))
    return lines


def _gstreamer_support(build_info: str) -> str:
    match = GSTREAMER_LINE.search(build_info)
    return match.group(1) if match else "not listed"


def check_opencv() -> list[Check]:
    try:
        import cv2
    except ImportError as e:
        missing = f"not importable ({first_line(e)})"
        return [Check("OpenCV", False, missing, OPENCV_FIX), Check("OpenCV GStreamer", None, missing, OPENCV_FIX)]
    from edgefusion.data.faces import CASCADE_FILE, INSTALL_HINT, FaceDetector

    version = version_of(cv2)
    try:
        FaceDetector()  # loads the cascade exactly as the runtime does
        lines = [Check("OpenCV", True, f"{version}; Haar cascade {CASCADE_FILE} loads")]
    except EdgefusionError as e:
        lines = [Check("OpenCV", False, f"{version}; {e}", INSTALL_HINT)]
    gstreamer = _gstreamer_support(cv2.getBuildInformation())
    if gstreamer.upper().startswith("YES"):
        lines.append(Check("OpenCV GStreamer", True, f"{gstreamer}: csi:// and gst:// sources can open"))
    else:
        lines.append(Check("OpenCV GStreamer", False, f"{gstreamer}: csi:// and gst:// sources need it", GSTREAMER_FIX))
    return lines


def check_disk() -> list[Check]:
    from edgefusion.data.store import default_cache_dir

    cache = default_cache_dir()
    existing = cache
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free / GIB
    state = "exists" if cache.exists() else "not created yet"
    detail = f"{free:.1f} GiB free for the clip cache {cache} ({state})"
    if not os.access(existing, os.W_OK):
        return [Check("disk space", False, f"{detail}, but {existing} is not writable", DISK_FIX)]
    if free < MIN_FREE_GIB:
        return [Check("disk space", False, detail, DISK_FIX)]
    return [Check("disk space", True, detail)]


def check_edgefusion() -> list[Check]:
    from importlib.metadata import PackageNotFoundError, version

    where = Path(__file__).resolve().parent
    try:
        installed = version("edgefusion")
    except PackageNotFoundError:
        return [Check("edgefusion", True, f"{__version__} at {where} (run from source, not installed)")]
    if installed != __version__:
        detail = f"the code at {where} is {__version__}, the installed metadata says {installed}"
        return [Check("edgefusion", False, detail, EDGEFUSION_FIX)]
    return [Check("edgefusion", True, f"{__version__} at {where}")]


def check_shipped() -> list[Check]:
    """The model in the box, every file against its manifest, and the VAD that gates its decisions."""
    from edgefusion.errors import EdgefusionError
    from edgefusion.runtime.vad import SILERO_INSTALL, silero_model_path
    from edgefusion.zoo import REINSTALL, ZooError, card, entries, verify

    try:
        table = entries()
        for item in table.values():
            verify(item)
        size = sum(item.size for item in table.values()) / 1e6
        name = card().get("name", "model")
        model = Check("shipped model", True, f"{name}: {len(table)} files, {size:.1f} MB, intact")
    except ZooError as e:
        model = Check("shipped model", False, str(e), REINSTALL)
    try:
        vad = Check("voice activity", True, f"Silero VAD at {silero_model_path()}")
    except EdgefusionError as e:
        vad = Check("voice activity", False, f"{e}: `run` decides on speech only with it", SILERO_INSTALL)
    return [model, vad]

