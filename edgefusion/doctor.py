"""``edgefusion doctor``: what this machine can run, and how to fix what it cannot.

Each probe below looks at one part of the stack (Python, PyTorch, ONNX Runtime, OpenCV, audio,
cameras, NVIDIA GPU, TensorRT, Jetson) and returns ``Check`` lines. A probe is quick (well under
2 s: subprocesses and device opens run under timeouts) and never raises: an exception inside
one becomes a failed line carrying the exception's first line.

``ok`` is True (OK), False (MISSING) or None (n/a: does not apply to this machine, e.g. the
Jetson lines on a PC). Only the lines in ``REQUIRED`` can fail the doctor's exit status: they
are what the CPU path (train, export, quantize, run on ONNX Runtime) needs. Everything about
GPUs, TensorRT, Jetson, cameras and microphones is optional and only reported.

Where the Jetson facts come from:

- The board's name is the device-tree ``model`` property, a NUL-terminated string
  (``/proc/device-tree/model``, e.g. "NVIDIA Jetson AGX Orin Developer Kit").
- The L4T release is the first line of ``/etc/nv_tegra_release``,
  "# R36 (release), REVISION: 4.3, GCID: ..., BOARD: ..." (L4T 36.4.3); without that file the
  ``nvidia-l4t-core`` Debian package's version ("36.4.3-20250107174145") says the same
  (jetson-stats' ``get_nvidia_l4t`` reads both the same way).
- JetPack is the ``nvidia-jetpack`` meta-package's version when it is installed, else a guess
  from the L4T release (``JETPACK_FOR_L4T``, from NVIDIA's JetPack and Jetson Linux archives).
- ``nvpmodel -q`` prints the power mode's name, then its number: "NV Power Mode: MAXN" / "0".
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgefusion import __version__
from edgefusion.atomic import write_text_atomic
from edgefusion.errors import EdgefusionError, located

MIN_PYTHON = (3, 10)  # JetPack 6 ships Python 3.10 (Ubuntu 22.04)
SUBPROCESS_TIMEOUT_S = 1.5  # any one external command (nvidia-smi, nvpmodel, dpkg-query, lscpu)
CAMERA_BUDGET_S = 1.5  # all /dev/video* opens together
AUDIO_TIMEOUT_S = 1.5  # loading PortAudio and listing its devices
MIN_FREE_GIB = 2.0  # below this the clip cache (decoded audio and face crops) runs out
GIB = 1 << 30

STATUS = {True: "OK", False: "MISSING", None: "n/a"}
# The CPU path: without these nothing trains, exports or runs. Everything else is optional.
REQUIRED = frozenset({"Python", "torch", "onnx", "ONNX Runtime", "OpenCV"})

OS_RELEASE = Path("/etc/os-release")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
DT_MODEL = Path("/proc/device-tree/model")
DT_COMPATIBLE = Path("/proc/device-tree/compatible")
L4T_RELEASE = Path("/etc/nv_tegra_release")
# A discrete GPU's driver node; the integrated GPU's on JetPack 6 and on JetPack 5.
GPU_NODES = (Path("/dev/nvidia0"), Path("/dev/nvgpu/igpu0"), Path("/dev/nvhost-ctrl-gpu"))
VIDEO_GLOB = "video*"
DEV = Path("/dev")
V4L_SYSFS = Path("/sys/class/video4linux")

L4T_LINE = re.compile(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
GSTREAMER_LINE = re.compile(r"^\s*GStreamer:\s*(.+?)\s*$", re.MULTILINE)
POWER_MODE_LINE = re.compile(r"NV Power Mode:\s*(.+)")
# L4T release -> JetPack, exact releases only (NVIDIA's JetPack archive and each JetPack's
# release page: "JetPack 6.2.1 ... Jetson Linux 36.4.4", "JetPack 7.1 with Jetson Linux 38.4").
JETPACK_FOR_L4T = {
    "38.4.0": "7.1",
    "38.2.1": "7.0",
    "38.2.0": "7.0",
    "36.4.4": "6.2.1",
    "36.4.3": "6.2",
    "36.4.0": "6.1",
    "36.3.0": "6.0",
    "36.2.0": "6.0 DP",
    "35.6.0": "5.1.4",
    "35.5.0": "5.1.3",
    "35.4.1": "5.1.2",
    "35.3.1": "5.1.1",
    "35.2.1": "5.1",
    "35.1.0": "5.0.2",
}
JETPACK_FAMILY = {"32": "4.x", "34": "5.0 DP", "35": "5.x", "36": "6.x", "38": "7.x"}  # for releases not listed

BUG_FIX = "a bug in `edgefusion doctor` itself: please report this line"
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
OPENCV_FIX = "pip install 'opencv-python>=4.8,<5' (OpenCV 5 ships no Haar cascades)"
ONNXSIM_FIX = "pip install onnxsim (export then simplifies the graph; without it the graph is kept unsimplified)"
GSTREAMER_FIX = (
    "pip's opencv-python has no GStreamer. On Jetson: use JetPack's OpenCV (sudo apt install nvidia-opencv) "
    "from a venv made with --system-site-packages, after pip uninstall opencv-python; elsewhere: an OpenCV "
    "built with -D WITH_GSTREAMER=ON"
)
PORTAUDIO_FIX = "sudo apt-get install libportaudio2 (the PortAudio library sounddevice loads)"
MIC_FIX = (
    "plug in a microphone (USB) and check `arecord -l`; on a headless machine a PulseAudio null sink is a real "
    "input: apt-get install pulseaudio pulseaudio-utils libasound2-plugins; pulseaudio -D --exit-idle-time=-1; "
    "pactl load-module module-null-sink sink_name=vsink rate=16000 channels=1; "
    "pactl set-default-source vsink.monitor (then play audio into vsink with paplay)"
)
CAMERA_NONE_FIX = (
    "plug in a USB (UVC) camera and check `ls /dev/video*` or `v4l2-ctl --list-devices`; in a container pass "
    "--device /dev/video0; a Jetson CSI camera: check the ribbon cable (it is read through GStreamer, csi://0)"
)
CAMERA_OPEN_FIX = (
    "no node opens: is another program using the camera? Is this user in the video group "
    "(sudo usermod -aG video $USER, then log in again)?"
)
CAMERA_ACCESS_FIX = "add this user to the video group: sudo usermod -aG video $USER, then log in again"
POWER_FIX = (
    "for benchmarks pick the highest mode in /etc/nvpmodel.conf (sudo nvpmodel -m <id>), then sudo jetson_clocks"
)
DISK_FIX = f"free some space or point --cache-dir at a larger disk (at least {MIN_FREE_GIB:g} GiB free)"
EDGEFUSION_FIX = "the installed metadata is stale: pip install -e . (or make venv) again"


@dataclass
class Check:
    """One line of the report: ``ok`` True (OK), False (MISSING) or None (n/a on this machine)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    @property
    def required(self) -> bool:
        return self.name in REQUIRED

    @property
    def status(self) -> str:
        return STATUS[self.ok]


@dataclass(frozen=True)
class Probe:
    """A check function and the names of the lines it reports (used when it raises)."""

    names: tuple[str, ...]
    run: Callable[[], list[Check]]


# -- small helpers --------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__


def _read_text(path: Path) -> str | None:
    """A text file's content without NULs and outer whitespace; None when unreadable or empty."""
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return None
    return text.replace("\x00", " ").strip() or None


def _run(command: Sequence[str], timeout: float = SUBPROCESS_TIMEOUT_S) -> subprocess.CompletedProcess[str] | None:
    """Run ``command`` (None when its program is not installed); raises ``TimeoutExpired`` past ``timeout``."""
    program = shutil.which(command[0])
    if program is None:
        return None
    return subprocess.run(
        [program, *command[1:]], capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def _call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` in a daemon thread; ``TimeoutError`` when it has not returned within ``timeout`` s.

    A call that hangs (a camera driver, an audio server) is left behind in its thread rather than
    holding up the report.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as e:  # handed to the caller below
            box["error"] = e

    thread = threading.Thread(target=target, name="edgefusion-doctor", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _key_values(text: str, sep: str = ":") -> dict[str, str]:
    pairs = (line.split(sep, 1) for line in text.splitlines() if sep in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _nvidia_gpu_present() -> bool:
    """Whether a driver node of an NVIDIA GPU (discrete or a Jetson's) exists."""
    return any(node.exists() for node in GPU_NODES) or is_jetson()


def is_jetson() -> bool:
    """True on a Jetson: an L4T release file, or a Tegra device tree."""
    if L4T_RELEASE.is_file():
        return True
    compatible = _read_text(DT_COMPATIBLE) or ""
    model = _read_text(DT_MODEL) or ""
    return "nvidia,tegra" in compatible or "jetson" in model.lower()


def _version_of(module: Any) -> str:
    return str(getattr(module, "__version__", "?"))


# -- the probes -----------------------------------------------------------------------------


def check_python() -> list[Check]:
    version = platform.python_version()
    where = f"{platform.python_implementation()} at {sys.executable}"
    if sys.version_info[:2] >= MIN_PYTHON:
        return [Check("Python", True, f"{version} ({where}); JetPack 6 ships 3.10")]
    return [Check("Python", False, f"{version} ({where}) is older than 3.10", PYTHON_FIX)]


def _os_name() -> str:
    text = _read_text(OS_RELEASE) or ""
    pretty = _key_values(text, "=").get("PRETTY_NAME", "").strip('"')
    return pretty or platform.system()


def _cpu_model() -> str:
    info = _key_values(_read_text(CPUINFO) or "")
    model = info.get("model name") or info.get("Model name")
    if not model:  # ARM kernels (a Jetson's) do not name the core in /proc/cpuinfo; lscpu does
        try:
            result = _run(["lscpu"])
        except subprocess.TimeoutExpired:
            result = None
        if result is not None and result.returncode == 0:
            model = _key_values(result.stdout).get("Model name")
    return model or platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    total = _key_values(_read_text(MEMINFO) or "").get("MemTotal", "")
    match = re.match(r"(\d+)\s*kB", total)
    return int(match.group(1)) * 1024 / GIB if match else None


def check_system() -> list[Check]:
    kernel = f"{_os_name()}, kernel {platform.release()}, {platform.machine()}"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    memory = _memory_gib()
    cpu = f"{_cpu_model()}, {cores} cores ({usable} usable)"
    if memory is not None:
        cpu += f", {memory:.1f} GiB RAM"
    return [Check("OS", True, kernel), Check("CPU", True, cpu)]


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as e:
        missing = f"not importable ({_first_line(e)}): train, export and .pt checkpoints need it; artifacts do not"
        return [Check("torch", False, missing, TORCH_FIX), Check("torch CUDA", None, "torch is missing", TORCH_FIX)]
    version = _version_of(torch)
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
        result = _run(["nvidia-smi", f"--query-gpu={','.join(query)}", "--format=csv,noheader"])
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
        return [Check("TensorRT", False, f"not installed ({_first_line(e)}): `edgefusion build` needs it", TRT_FIX)]
    except OSError as e:  # the bindings are there but libnvinfer does not load
        return [Check("TensorRT", False, f"its libraries do not load ({_first_line(e)})", TRT_FIX)]
    where = Path(tensorrt.__file__).parent if getattr(tensorrt, "__file__", None) else "a namespace package"
    return [Check("TensorRT", True, f"{_version_of(tensorrt)} (at {where})")]


def check_pycuda() -> list[Check]:
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        return [Check("pycuda", False, f"not installed ({_first_line(e)}): the TensorRT runner needs it", PYCUDA_FIX)]
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as e:
        return [Check("pycuda", False, f"imports, but the CUDA driver does not start ({_first_line(e)})", PYCUDA_FIX)]
    version = getattr(sys.modules.get("pycuda"), "VERSION_TEXT", "?")
    return [Check("pycuda", count > 0, f"{version}, {count} CUDA device(s)", "" if count else GPU_DRIVER_FIX)]


def _short(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider")


def check_onnxruntime() -> list[Check]:
    try:
        import onnxruntime as ort
    except ImportError as e:
        missing = f"not importable ({_first_line(e)})"
        return [Check("ONNX Runtime", False, missing, ORT_FIX), Check("ONNX Runtime GPU", None, missing, ORT_FIX)]
    providers = list(ort.get_available_providers())
    listed = ", ".join(_short(p) for p in providers)
    cpu = "CPUExecutionProvider" in providers
    lines = [Check("ONNX Runtime", cpu, f"{_version_of(ort)}, providers: {listed}", "" if cpu else ORT_FIX)]
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

        lines.append(Check("onnx", True, f"{_version_of(onnx)}, opset {onnx.defs.onnx_opset_version()}"))
    except ImportError as e:
        lines.append(Check("onnx", False, f"not importable ({_first_line(e)})", ONNX_FIX))
    try:
        import onnxsim

        lines.append(Check("onnxsim", True, _version_of(onnxsim).lstrip("v")))
    except ImportError as e:
        lines.append(Check("onnxsim", False, f"not importable ({_first_line(e)})", ONNXSIM_FIX))
    return lines


def _gstreamer_support(build_info: str) -> str:
    match = GSTREAMER_LINE.search(build_info)
    return match.group(1) if match else "not listed"


def check_opencv() -> list[Check]:
    try:
        import cv2
    except ImportError as e:
        missing = f"not importable ({_first_line(e)})"
        return [Check("OpenCV", False, missing, OPENCV_FIX), Check("OpenCV GStreamer", None, missing, OPENCV_FIX)]
    from edgefusion.data.faces import CASCADE_FILE, INSTALL_HINT, FaceDetector

    version = _version_of(cv2)
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


def _audio_inputs() -> tuple[str, list[str]]:
    """(PortAudio's version text, 'name (N ch, R Hz)' of every input device); imports sounddevice."""
    import sounddevice as sd

    version = sd.get_portaudio_version()[1]
    inputs = []
    for index, device in enumerate(sd.query_devices()):
        if device["max_input_channels"] > 0:
            rate = f"{device['default_samplerate']:g} Hz"
            inputs.append(f"#{index} {device['name']} ({device['max_input_channels']} ch, {rate})")
    return str(version), inputs


def check_audio() -> list[Check]:
    try:
        version, inputs = _call_with_timeout(_audio_inputs, AUDIO_TIMEOUT_S)
    except (ImportError, OSError) as e:  # sounddevice raises OSError when libportaudio is absent
        missing = f"sounddevice cannot load PortAudio ({_first_line(e)})"
        return [Check("PortAudio", False, missing, PORTAUDIO_FIX), Check("microphone", None, "no PortAudio", MIC_FIX)]
    except TimeoutError as e:  # an ALSA or PulseAudio layer that does not answer
        hung = f"PortAudio did not list its devices: {e} (is the audio server hanging? `pactl info`)"
        return [Check("PortAudio", False, hung, PORTAUDIO_FIX), Check("microphone", None, "unknown", MIC_FIX)]
    lines = [Check("PortAudio", True, version)]
    if inputs:
        lines.append(Check("microphone", True, "; ".join(inputs)))
    else:
        lines.append(Check("microphone", False, "PortAudio sees no input device", MIC_FIX))
    return lines


def _video_nodes() -> list[Path]:
    def number(path: Path) -> int:
        digits = path.name.removeprefix("video")
        return int(digits) if digits.isdigit() else -1

    return sorted((p for p in DEV.glob(VIDEO_GLOB) if number(p) >= 0), key=number)


def _open_camera(node: Path) -> str | None:
    """'WxH' when OpenCV opens ``node`` through V4L2, else None."""
    import cv2

    capture = cv2.VideoCapture(str(node), cv2.CAP_V4L2)
    try:
        if not capture.isOpened():
            return None
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return f"{width}x{height}"
    finally:
        capture.release()


def _describe_camera(node: Path, deadline: float) -> tuple[bool, str]:
    """(opens, one phrase about ``node``), spending no more than until ``deadline``."""
    name = _read_text(V4L_SYSFS / node.name / "name")
    label = f"{node} ({name})" if name else str(node)
    if not os.access(node, os.R_OK | os.W_OK):
        return False, f"{label}: no permission ({CAMERA_ACCESS_FIX})"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False, f"{label}: not tried (time budget spent)"
    try:
        size = _call_with_timeout(lambda: _open_camera(node), remaining)
    except TimeoutError:
        return False, f"{label}: open did not return within {CAMERA_BUDGET_S:g} s"
    if size is None:
        return False, f"{label}: does not open as a capture device (a UVC camera's metadata node never does)"
    return True, f"{label}: opens, {size}"


def _quiet_opencv() -> Callable[[], None]:
    """Silence OpenCV's warnings (a failed V4L2 open logs one); returns the function that restores them."""
    logging = getattr(getattr(sys.modules.get("cv2"), "utils", None), "logging", None)
    if logging is None or not hasattr(logging, "getLogLevel"):
        return lambda: None
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    return lambda: logging.setLogLevel(level)


def check_cameras() -> list[Check]:
    nodes = _video_nodes()
    if not nodes:
        return [Check("cameras", None, "no camera found (no /dev/video* node)", CAMERA_NONE_FIX)]
    try:
        import cv2  # noqa: F401  (loaded before the worker threads, so none of them imports it)
    except ImportError as e:
        return [Check("cameras", False, f"{len(nodes)} node(s), but OpenCV is missing ({_first_line(e)})", OPENCV_FIX)]
    restore = _quiet_opencv()
    try:
        deadline = time.monotonic() + CAMERA_BUDGET_S
        results = [_describe_camera(node, deadline) for node in nodes]
    finally:
        restore()
    detail = "; ".join(text for _, text in results)
    opened = any(ok for ok, _ in results)
    return [Check("cameras", True, detail) if opened else Check("cameras", False, detail, CAMERA_OPEN_FIX)]


def _dpkg_version(package: str) -> str | None:
    try:
        result = _run(["dpkg-query", "--showformat=${Version}", "--show", package])
    except subprocess.TimeoutExpired:
        return None
    if result is None or result.returncode != 0:
        return None
    return result.stdout.strip() or None


def l4t_release() -> str | None:
    """ "36.4.3" from /etc/nv_tegra_release, else from the nvidia-l4t-core package; None when neither says."""
    match = L4T_LINE.search(_read_text(L4T_RELEASE) or "")
    if match:
        major, revision = match.groups()
        return f"{major}.{revision}"
    package = _dpkg_version("nvidia-l4t-core")  # "36.4.3-20250107174145"
    return package.split("-", 1)[0] if package else None


def jetpack_for(l4t: str) -> str:
    """The JetPack that shipped an L4T release ("36.4.3" -> "6.2"), or its family ("6.x") when not listed."""
    parts = l4t.split(".")
    exact = ".".join([*parts, "0", "0"][:3])
    if exact in JETPACK_FOR_L4T:
        return JETPACK_FOR_L4T[exact]
    return JETPACK_FAMILY.get(parts[0], "unknown")


def _power_mode() -> Check:
    try:
        result = _run(["nvpmodel", "-q"])
    except subprocess.TimeoutExpired:
        return Check("power mode", False, f"nvpmodel -q did not answer within {SUBPROCESS_TIMEOUT_S:g} s", POWER_FIX)
    if result is None:
        return Check("power mode", None, "nvpmodel is not installed")
    match = POWER_MODE_LINE.search(result.stdout)
    if result.returncode != 0 or match is None:
        error = (result.stderr or result.stdout).strip().splitlines()
        return Check("power mode", False, f"nvpmodel -q: {error[0] if error else result.returncode}", POWER_FIX)
    mode = match.group(1).strip()
    after = result.stdout[match.end() :].split()
    number = f" (mode {after[0]})" if after and after[0].isdigit() else ""
    return Check("power mode", True, f"{mode}{number}", "" if "MAXN" in mode.upper() else POWER_FIX)


def check_jetson() -> list[Check]:
    if not is_jetson():
        why = "not a Jetson (no /etc/nv_tegra_release, no Tegra device tree)"
        return [Check(name, None, why) for name in ("Jetson", "L4T", "JetPack", "power mode")]
    model = _read_text(DT_MODEL)
    lines = [Check("Jetson", True, model or "a Jetson (the device tree names no model)")]
    l4t = l4t_release()
    if l4t is None:
        lines.append(Check("L4T", False, "neither /etc/nv_tegra_release nor nvidia-l4t-core names the release"))
        lines.append(Check("JetPack", False, "unknown without the L4T release"))
    else:
        lines.append(Check("L4T", True, f"R{l4t}"))
        package = _dpkg_version("nvidia-jetpack")  # "6.2.1+b38"
        if package:
            lines.append(Check("JetPack", True, f"{package.split('+', 1)[0]} (nvidia-jetpack package)"))
        else:
            lines.append(Check("JetPack", True, f"{jetpack_for(l4t)} (guessed from L4T {l4t})"))
    lines.append(_power_mode())
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


PROBES: tuple[Probe, ...] = (
    Probe(("edgefusion",), check_edgefusion),
    Probe(("Python",), check_python),
    Probe(("OS", "CPU"), check_system),
    Probe(("torch", "torch CUDA"), check_torch),
    Probe(("onnx", "onnxsim"), check_onnx),
    Probe(("ONNX Runtime", "ONNX Runtime GPU"), check_onnxruntime),
    Probe(("OpenCV", "OpenCV GStreamer"), check_opencv),
    Probe(("NVIDIA GPU",), check_gpu),
    Probe(("TensorRT",), check_tensorrt),
    Probe(("pycuda",), check_pycuda),
    Probe(("PortAudio", "microphone"), check_audio),
    Probe(("cameras",), check_cameras),
    Probe(("Jetson", "L4T", "JetPack", "power mode"), check_jetson),
    Probe(("disk space",), check_disk),
)


# -- running and reporting ------------------------------------------------------------------


def run_probe(probe: Probe) -> list[Check]:
    """The probe's lines; when it raises, one failed line per name it reports, with the error's first line."""
    try:
        result = probe.run()
    except Exception as e:
        return [Check(name, False, f"the check raised {_first_line(e)}", BUG_FIX) for name in probe.names]
    return [result] if isinstance(result, Check) else list(result)


def collect(probes: Sequence[Probe] = PROBES) -> tuple[list[Check], dict[str, float]]:
    """Every probe's lines, in order, and the seconds each probe took (keyed by its first name)."""
    checks: list[Check] = []
    seconds: dict[str, float] = {}
    for probe in probes:
        start = time.perf_counter()
        checks.extend(run_probe(probe))
        seconds[probe.names[0]] = round(time.perf_counter() - start, 3)
    return checks, seconds


def failed_required(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.required and c.ok is False]


def _table(checks: Sequence[Check]) -> Table:
    table = Table(title="edgefusion doctor", title_justify="left", show_lines=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("need", no_wrap=True)
    table.add_column("what")
    table.add_column("how to fix")
    for check in checks:
        style = "green" if check.ok else "dim" if check.ok is None else "bold red" if check.required else "yellow"
        need = "required" if check.required else "optional"
        table.add_row(
            Text(check.status, style=style), Text(check.name), Text(need), Text(check.detail), Text(check.fix)
        )
    return table


def _summary(checks: Sequence[Check]) -> str:
    failed = failed_required(checks)
    if failed:
        names = ", ".join(c.name for c in failed)
        if names == "torch":
            return (
                "1 required check(s) failed (torch): train, export and .pt checkpoints will not work until it "
                "passes; .onnx and .engine artifacts run without it"
            )
        return f"{len(failed)} required check(s) failed ({names}): the CPU path will not work until they pass"
    optional = sum(1 for c in checks if c.ok is False)
    return "the CPU path (train, export, quantize, ONNX Runtime) is ready" + (
        f"; {optional} optional item(s) missing (see 'how to fix')" if optional else ""
    )


def _write_json(path: Path, checks: Sequence[Check], seconds: dict[str, float]) -> None:
    record = {
        "edgefusion_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "failed_required": len(failed_required(checks)),
        "required": sorted(REQUIRED),
        "checks": [{**asdict(c), "status": c.status, "required": c.required} for c in checks],
        "seconds": seconds,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    except OSError as e:
        raise EdgefusionError(located(path, f"cannot write the report ({e.strerror or e})")) from None


def run_doctor(console: Console, json_path: Path | None = None, probes: Sequence[Probe] = PROBES) -> int:
    """Check this machine, print the report as a table, optionally write it as JSON; return the failures.

    The return value is the number of REQUIRED checks that failed (0 = the CPU path works). The
    required ones are Python (>= 3.10), torch, onnx, ONNX Runtime (with its CPU provider) and
    OpenCV with its Haar face cascade. Everything else (NVIDIA GPU, torch CUDA, TensorRT, pycuda,
    ONNX Runtime's GPU providers, onnxsim, OpenCV's GStreamer, PortAudio and a microphone,
    cameras, the Jetson lines, disk space) is optional: reported as OK, MISSING or n/a with how
    to fix it, and never counted in the return value. ``probes`` replaces the list of checks
    (``PROBES``), e.g. to add one.
    """
    checks, seconds = collect(probes)
    console.print(_table(checks))
    console.print(_summary(checks), highlight=False)
    if json_path is not None:
        _write_json(Path(json_path), checks, seconds)
        console.print(f"report written to {json_path}", highlight=False)
    return len(failed_required(checks))
