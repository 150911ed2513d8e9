"""TensorRT calibration caches written from activation ranges (pure Python, no TensorRT)."""

from __future__ import annotations

import math
import struct

import pytest

from edgefusion.artifact.calibration_cache import (
    CalibrationCacheError,
    cache_header,
    read_calibration_cache,
    scale_hex,
    tensorrt_version_code,
    write_calibration_cache,
)
from edgefusion.errors import EdgefusionError


def _f32(x: float) -> float:
    return struct.unpack(">f", struct.pack(">f", x))[0]


def test_round_trip(tmp_path):
    ranges = {
        "audio": 1.0,
        "/encoder/stem/Conv_output_0": 6.25,
        "input_1:0": 2.54,  # a name with ": " parts of its own is split at the last one
        "(Unnamed Layer* 4) [Fully Connected]_output": 0.031,
    }
    path = write_calibration_cache(ranges, tmp_path / "sub" / "model.calib")
    header, scales = read_calibration_cache(path)
    assert header == "TRT-100300-EntropyCalibration2"
    assert list(scales) == list(ranges)
    for name, amax in ranges.items():
        assert scales[name] == _f32(amax / 127)
        assert math.isclose(scales[name] * 127, amax, rel_tol=1e-6)
    assert not (tmp_path / "sub" / "model.calib.tmp").exists()


def test_known_bits(tmp_path):
    path = write_calibration_cache({"audio": 1.0, "x": 127.0, "y": 15.875}, tmp_path / "c.cache")
    lines = path.read_text().splitlines()
    assert lines == ["TRT-100300-EntropyCalibration2", "audio: 3c010204", "x: 3f800000", "y: 3e000000"]
    assert scale_hex(1 / 127) == "3c010204"
    assert path.read_text().endswith("\n")


def test_reads_a_cache_as_tensorrt_writes_it(tmp_path):
    # the shape of DeepStream's cal_trt.bin (TensorRT 10.3), and TAO's unpadded hex
    path = tmp_path / "cal_trt.bin"
    path.write_text("TRT-100300-EntropyCalibration2\ninput_1:0: 3c010a14\nconv1/convolution:0: 3d0b7086\nz: 3f80000\n")
    header, scales = read_calibration_cache(path)
    assert header == "TRT-100300-EntropyCalibration2"
    assert math.isclose(scales["input_1:0"] * 127, 1.0, rel_tol=2e-3)
    assert scales["z"] == struct.unpack(">f", bytes.fromhex("03f80000"))[0]


@pytest.mark.parametrize(
    ("version", "code"),
    [
        ("8.6.1", 8601),
        ("8.6", 8600),
        ("7.1.3", 7103),
        ("8.5.1.7", 8501),
        ("10.3", 100300),
        ("10.3.0.30", 100300),
        ("10.16.2", 101602),
        ("10.0.1", 100001),
    ],
)
def test_header_version_codes(version, code):
    assert tensorrt_version_code(version) == code


def test_header_names_version_and_algorithm():
    assert cache_header("8.6.1") == "TRT-8601-EntropyCalibration2"
    assert cache_header("10.3", "MinMaxCalibration") == "TRT-100300-MinMaxCalibration"
    with pytest.raises(CalibrationCacheError, match="unknown calibration algorithm"):
        cache_header("10.3", "Percentile")


@pytest.mark.parametrize("version", ["11", "11.4.1"])
def test_tensorrt_11_has_no_implicit_calibration(version, tmp_path):
    with pytest.raises(CalibrationCacheError, match="removed implicit INT8 calibration") as err:
        write_calibration_cache({"x": 1.0}, tmp_path / "c", trt_version=version)
    assert "edgefusion calibrate" in str(err.value)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("version", ["9.2", "ten", "10", "10.x"])
def test_unestablished_or_bad_versions_refused(version):
    with pytest.raises(CalibrationCacheError):
        tensorrt_version_code(version)


@pytest.mark.parametrize("amax", [0.0, -1.0, math.nan, math.inf, -math.inf, "wide", 1e-45, 1e41])
def test_bad_ranges_refused(amax, tmp_path):
    path = tmp_path / "c.cache"
    with pytest.raises(CalibrationCacheError) as err:
        write_calibration_cache({"ok": 1.0, "/stem/Conv_output_0": amax}, path)
    message = str(err.value)
    assert isinstance(err.value, EdgefusionError)
    assert "\n" not in message and str(path) in message and "/stem/Conv_output_0" in message
    assert not path.exists()


@pytest.mark.parametrize("name", ["", "two\nlines", " padded"])
def test_unwritable_names_refused(name, tmp_path):
    with pytest.raises(CalibrationCacheError, match="cannot be written"):
        write_calibration_cache({name: 1.0}, tmp_path / "c")


def test_empty_ranges_refused(tmp_path):
    with pytest.raises(CalibrationCacheError, match="no activation ranges"):
        write_calibration_cache({}, tmp_path / "c")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a TensorRT calibration cache"),
        ("TRT-EntropyCalibration2\nx: 3f800000\n", "not a TensorRT calibration cache"),
        ("TRT-8601-EntropyCalibration2\nx 3f800000\n", "line 2"),
        ("TRT-8601-EntropyCalibration2\nx: 3f80000g\n", "line 2"),
        ("TRT-8601-EntropyCalibration2\nx: 3f800000\nx: 3f800000\n", "repeats tensor"),
    ],
)
def test_malformed_caches_refused(text, problem, tmp_path):
    path = tmp_path / "bad.cache"
    path.write_text(text)
    with pytest.raises(CalibrationCacheError, match=problem) as err:
        read_calibration_cache(path)
    assert "\n" not in str(err.value)


def test_missing_cache(tmp_path):
    with pytest.raises(CalibrationCacheError, match="no such calibration cache"):
        read_calibration_cache(tmp_path / "absent.cache")
