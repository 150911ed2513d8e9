"""Probes of the board's devices: microphones (PortAudio), cameras (/dev/video*), and a Jetson's
model, L4T and JetPack releases and power mode.

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

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from edgefusion.doctor.base import (
    OPENCV_FIX,
    SUBPROCESS_TIMEOUT_S,
    Check,
    call_with_timeout,
    first_line,
    read_text,
    run_tool,
)

CAMERA_BUDGET_S = 1.5  # all /dev/video* opens together
AUDIO_TIMEOUT_S = 1.5  # loading PortAudio and listing its devices
DT_MODEL = Path("/proc/device-tree/model")
DT_COMPATIBLE = Path("/proc/device-tree/compatible")
L4T_RELEASE = Path("/etc/nv_tegra_release")
VIDEO_GLOB = "video*"
DEV = Path("/dev")
V4L_SYSFS = Path("/sys/class/video4linux")
L4T_LINE = re.compile(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
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


def is_jetson() -> bool:
    """True on a Jetson: an L4T release file, or a Tegra device tree."""
    if L4T_RELEASE.is_file():
        return True
    compatible = read_text(DT_COMPATIBLE) or ""
    model = read_text(DT_MODEL) or ""
    return "nvidia,tegra" in compatible or "jetson" in model.lower()


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
        version, inputs = call_with_timeout(_audio_inputs, AUDIO_TIMEOUT_S)
    except (ImportError, OSError) as e:  # sounddevice raises OSError when libportaudio is absent
        missing = f"sounddevice cannot load PortAudio ({first_line(e)})"
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
    name = read_text(V4L_SYSFS / node.name / "name")
    label = f"{node} ({name})" if name else str(node)
    if not os.access(node, os.R_OK | os.W_OK):
        return False, f"{label}: no permission ({CAMERA_ACCESS_FIX})"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False, f"{label}: not tried (time budget spent)"
    try:
        size = call_with_timeout(lambda: _open_camera(node), remaining)
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
        return [Check("cameras", False, f"{len(nodes)} node(s), but OpenCV is missing ({first_line(e)})", OPENCV_FIX)]
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
        result = run_tool(["dpkg-query", "--showformat=${Version}", "--show", package])
    except subprocess.TimeoutExpired:
        return None
    if result is None or result.returncode != 0:
        return None
    return result.stdout.strip() or None


def l4t_release() -> str | None:
    """ "36.4.3" from /etc/nv_tegra_release, else from the nvidia-l4t-core package; None when neither says."""
    match = L4T_LINE.search(read_text(L4T_RELEASE) or "")
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
        result = run_tool(["nvpmodel", "-q"])
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
    model = read_text(DT_MODEL)
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
