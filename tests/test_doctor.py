"""`edgefusion doctor` on this machine, for real: what it finds, what it writes, how it fails."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from edgefusion.doctor import base, board, stack
from edgefusion.doctor import report as doctor_report
from edgefusion.doctor.base import REQUIRED, Check, Probe
from edgefusion.doctor.report import PROBES, run_doctor, run_probe
from edgefusion.doctor.stack import check_python

# Every line the doctor reports, on every machine (a stable schema for scripts reading the JSON).
EXPECTED_NAMES = {
    "edgefusion",
    "Python",
    "OS",
    "CPU",
    "torch",
    "torch CUDA",
    "onnx",
    "onnxsim",
    "ONNX Runtime",
    "ONNX Runtime GPU",
    "OpenCV",
    "OpenCV GStreamer",
    "NVIDIA GPU",
    "TensorRT",
    "pycuda",
    "PortAudio",
    "microphone",
    "cameras",
    "Jetson",
    "L4T",
    "JetPack",
    "power mode",
    "disk space",
    "shipped model",
    "voice activity",
}
PROBE_BUDGET_S = 5.0  # each probe aims at under 2 s; this leaves room for a loaded CI machine
WHOLE_RUN_BUDGET_S = 30.0


def recording_console() -> Console:
    return Console(record=True, width=200, file=io.StringIO(), color_system=None)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict]:
    """(return value, printed text, JSON) of one full run on this machine."""
    json_path = tmp_path_factory.mktemp("doctor") / "sub" / "doctor.json"
    console = recording_console()
    failures = run_doctor(console, json_path)
    return failures, console.export_text(), json.loads(json_path.read_text(encoding="utf-8"))


def by_name(data: dict) -> dict[str, dict]:
    return {c["name"]: c for c in data["checks"]}


def row(text: str, name: str) -> str:
    """The printed table row whose check column is ``name``."""
    return next(line for line in text.splitlines() if line.count("│") > 2 and line.split("│")[2].strip() == name)


def test_required_checks_pass_here(report: tuple[int, str, dict]) -> None:
    failures, text, data = report
    checks = by_name(data)
    assert failures == 0 and data["failed_required"] == 0
    assert set(data["required"]) == REQUIRED == {"Python", "torch", "onnx", "ONNX Runtime", "OpenCV"}
    for name in REQUIRED:
        assert checks[name]["ok"] is True, checks[name]
        assert checks[name]["required"] is True
        assert row(text, name).startswith("│ OK ")
    assert checks["Python"]["detail"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert "JetPack 6 ships 3.10" in checks["Python"]["detail"]
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
    assert "CPU" in checks["ONNX Runtime"]["detail"].split("providers:")[1]
    assert "haarcascade_frontalface_default.xml loads" in checks["OpenCV"]["detail"]
    assert "the CPU path (train, export, quantize, ONNX Runtime) is ready" in text


def test_tensorrt_reported_missing_with_a_jetpack_fix(report: tuple[int, str, dict]) -> None:
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        pytest.skip("TensorRT is importable on this machine")
    _, text, data = report
    trt = by_name(data)["TensorRT"]
    assert trt["ok"] is False and trt["status"] == "MISSING" and trt["required"] is False
    assert "JetPack" in trt["fix"] and "python3-libnvinfer" in trt["fix"]
    assert row(text, "TensorRT").startswith("│ MISSING ")


def test_json_has_every_check(report: tuple[int, str, dict]) -> None:
    _, text, data = report
    names = [c["name"] for c in data["checks"]]
    assert set(names) == EXPECTED_NAMES and len(names) == len(EXPECTED_NAMES)
    for check in data["checks"]:
        assert set(check) == {"name", "ok", "detail", "fix", "status", "required"}
        assert check["status"] == {True: "OK", False: "MISSING", None: "n/a"}[check["ok"]]
        assert check["required"] == (check["name"] in REQUIRED)
        assert check["detail"], check
        assert row(text, check["name"]).startswith(f"│ {check['status']} ")
    assert data["edgefusion_version"] == doctor_report.__version__
    assert set(data["seconds"]) == {probe.names[0] for probe in PROBES}
    slow = {name: s for name, s in data["seconds"].items() if s > PROBE_BUDGET_S}
    assert not slow, f"probes slower than {PROBE_BUDGET_S} s: {slow}"


def test_optional_lines_never_fail_the_exit_status(report: tuple[int, str, dict]) -> None:
    failures, _, data = report
    missing_optional = [c for c in data["checks"] if c["ok"] is False and not c["required"]]
    assert failures == sum(1 for c in data["checks"] if c["ok"] is False and c["required"]) == 0
    for check in missing_optional:  # anything MISSING says how to get it
        assert check["fix"], check


def explode() -> list[Check]:
    raise RuntimeError("boom: the first line\nthe second line")


def test_a_raising_check_becomes_a_failed_line(tmp_path: Path) -> None:
    console = recording_console()
    probes = (Probe(("Python",), check_python), Probe(("explodes", "explodes too"), explode))
    failures = run_doctor(console, tmp_path / "doctor.json", probes=probes)
    assert failures == 0  # optional lines: reported, not counted
    checks = by_name(json.loads((tmp_path / "doctor.json").read_text(encoding="utf-8")))
    for name in ("explodes", "explodes too"):
        assert checks[name]["ok"] is False
        assert checks[name]["detail"] == "the check raised RuntimeError: boom: the first line"
    text = console.export_text()
    assert row(text, "explodes").startswith("│ MISSING ") and "the second line" not in text


def test_a_required_check_that_raises_counts_as_failed() -> None:
    console = recording_console()
    assert run_doctor(console, probes=(Probe(("onnx",), explode),)) == 1
    assert "1 required check(s) failed (onnx)" in console.export_text()


def test_run_probe_takes_a_single_check() -> None:
    single = Probe(("single",), lambda: Check("single", None, "not here"))
    assert run_probe(single) == [Check("single", None, "not here")]


def write_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    path.chmod(0o755)


def test_jetson_lines_from_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text(
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan 8 2025\n"
    )
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    tools = tmp_path / "bin"
    write_tool(tools, "nvpmodel", 'echo "NV Power Mode: 15W"; echo 0')
    write_tool(tools, "dpkg-query", "exit 1")  # no nvidia-jetpack package: JetPack is guessed from L4T
    monkeypatch.setattr(board, "L4T_RELEASE", release)
    monkeypatch.setattr(board, "DT_MODEL", model)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    checks = {c.name: c for c in board.check_jetson()}
    assert checks["Jetson"] == Check("Jetson", True, "NVIDIA Jetson Orin Nano Developer Kit")
    assert checks["L4T"].detail == "R36.4.3"
    assert checks["JetPack"].detail == "6.2 (guessed from L4T 36.4.3)"
    assert checks["power mode"].ok is True and checks["power mode"].detail == "15W (mode 0)"
    assert "nvpmodel -m" in checks["power mode"].fix  # not MAXN: say how to raise it for benchmarks


def test_jetson_lines_do_not_apply_off_a_jetson(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("L4T_RELEASE", "DT_MODEL", "DT_COMPATIBLE"):
        monkeypatch.setattr(board, name, tmp_path / "absent")
    checks = board.check_jetson()
    assert [c.name for c in checks] == ["Jetson", "L4T", "JetPack", "power mode"]
    assert all(c.ok is None for c in checks)


def test_jetpack_from_l4t() -> None:
    assert board.jetpack_for("36.4.3") == "6.2"
    assert board.jetpack_for("36.4.4") == "6.2.1"
    assert board.jetpack_for("36.4") == "6.1"
    assert board.jetpack_for("35.4.1") == "5.1.2"
    assert board.jetpack_for("36.9.9") == "6.x"
    assert board.jetpack_for("99.1") == "unknown"


def test_a_hanging_command_is_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    write_tool(tools, "nvpmodel", "exec sleep 30")
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    start = time.monotonic()
    check = board._power_mode()
    assert time.monotonic() - start < base.SUBPROCESS_TIMEOUT_S + 1.5
    assert check.ok is False and "did not answer" in check.detail


def test_a_hanging_call_is_cut_short() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        base.call_with_timeout(lambda: time.sleep(10), 0.2)
    assert time.monotonic() - start < 1.0
    with pytest.raises(ValueError, match="inside"):
        base.call_with_timeout(lambda: int("inside"), 1.0)


def test_a_video_node_that_does_not_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "video4linux"
    dev.mkdir()
    (dev / "video0").touch()  # a plain file: V4L2 refuses it at once
    (dev / "video-notes").touch()  # not a video node
    (sysfs / "video0").mkdir(parents=True)
    (sysfs / "video0" / "name").write_text("Fake Cam\n")
    monkeypatch.setattr(board, "DEV", dev)
    monkeypatch.setattr(board, "V4L_SYSFS", sysfs)
    [cameras] = board.check_cameras()
    assert cameras.ok is False and cameras.fix
    assert cameras.detail.startswith(f"{dev / 'video0'} (Fake Cam): does not open")
    assert "video-notes" not in cameras.detail


def test_gpu_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "_gpus_from_torch", list)
    tools = tmp_path / "bin"
    write_tool(tools, "nvidia-smi", 'echo "NVIDIA H100 80GB HBM3, 550.54.15, 9.0"')
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    [gpu] = stack.check_gpu()
    assert gpu.ok is True
    assert gpu.detail == "NVIDIA H100 80GB HBM3 (driver 550.54.15, compute 9.0) (via nvidia-smi)"
    write_tool(tools, "nvidia-smi", 'echo "NVIDIA-SMI has failed because it couldn\'t communicate"; exit 9')
    [broken] = stack.check_gpu()
    assert broken.ok is False and "couldn't communicate" in broken.detail and broken.fix


def test_the_whole_doctor_is_quick_in_a_fresh_process(tmp_path: Path) -> None:
    json_path = tmp_path / "doctor.json"
    code = (
        "import sys; from pathlib import Path; from rich.console import Console; "
        "from edgefusion.doctor.report import run_doctor; "
        "sys.exit(run_doctor(Console(width=160), Path(sys.argv[1])))"
    )
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code, str(json_path)], capture_output=True, text=True, timeout=WHOLE_RUN_BUDGET_S
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < WHOLE_RUN_BUDGET_S
    assert "edgefusion doctor" in result.stdout
    assert {c["name"] for c in json.loads(json_path.read_text(encoding="utf-8"))["checks"]} == EXPECTED_NAMES
