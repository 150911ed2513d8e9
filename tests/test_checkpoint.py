"""Checkpoints round-trip, and anything else is refused with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from edgefusion.config import ModelConfig
from edgefusion.errors import CheckpointError
from edgefusion.model.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from edgefusion.model.network import EmotionNet

SMALL = ModelConfig(blocks=((16, 2), (24, 2)), stem_channels=8, embed_dim=32, heads=2)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, EmotionNet]:
    torch.manual_seed(0)
    model = EmotionNet(SMALL).eval()
    return save_checkpoint(tmp_path / "m.pt", model, extra={"note": "test"}), model


def test_round_trip_gives_identical_weights_and_outputs(saved: tuple[Path, EmotionNet]) -> None:
    path, model = saved
    loaded, meta = load_checkpoint(path)
    assert loaded.cfg == SMALL
    assert meta["format_version"] == FORMAT_VERSION and meta["extra"] == {"note": "test"}
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name, tensor in original.items():
        assert torch.equal(tensor, restored[name]), name
    audio = 0.1 * torch.randn(2, SMALL.window_samples)
    video = torch.randint(0, 256, (2, SMALL.frames, SMALL.frame_size, SMALL.frame_size, 3), dtype=torch.uint8)
    present = torch.ones(2, 2)
    with torch.no_grad():
        for a, b in zip(model(audio, video, present), loaded(audio, video, present), strict=True):
            # bitwise-equal weights, but the CPU kernels may sum in another order for another module
            # (seen on CI): equal to float32 rounding, not bitwise
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def edit(path: Path, **changes: object) -> Path:
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)
    return path


def expect_one_line(path: Path, fragment: str) -> None:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert fragment in message, message
    assert str(path) in message and "\n" not in message


def test_checkpoints_carrying_front_end_matrices_still_load(saved: tuple[Path, EmotionNet]) -> None:
    """Files written while the DFT basis and mel matrix were saved with the weights hold them in their state."""
    path, model = saved
    payload = torch.load(path, weights_only=True)
    old = {"logmel.basis": torch.randn(402, 1, 400), "logmel.mel": torch.rand(64, 201)}
    edit(path, state_dict={**payload["state_dict"], **old})
    loaded, _ = load_checkpoint(path)
    audio = 0.1 * torch.randn(1, SMALL.window_samples)
    with torch.no_grad():
        torch.testing.assert_close(loaded.logmel(audio), model.logmel(audio))  # rebuilt, not read from the file


def test_other_format_version(saved: tuple[Path, EmotionNet]) -> None:
    expect_one_line(edit(saved[0], format_version=FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1}")


def test_other_model(saved: tuple[Path, EmotionNet]) -> None:
    expect_one_line(edit(saved[0], model="WhisperTiny"), "checkpoint of model 'WhisperTiny'")


def test_weights_that_do_not_fit_the_config(saved: tuple[Path, EmotionNet]) -> None:
    payload = torch.load(saved[0], weights_only=True)
    expect_one_line(edit(saved[0], config={**payload["config"], "embed_dim": 64}), "weights do not fit")


def test_plain_state_dict_is_not_an_edgefusion_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(EmotionNet(SMALL).state_dict(), path)
    expect_one_line(path, "not an edgefusion checkpoint")


@pytest.mark.parametrize(
    ("content", "fragment"), [(b"", "empty file"), (b"\x00garbage" * 100, "not a PyTorch checkpoint")]
)
def test_not_a_checkpoint(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    expect_one_line(path, fragment)


def test_missing_file(tmp_path: Path) -> None:
    expect_one_line(tmp_path / "nope.pt", "no such file")


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_pickle_carrying_code_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "edgefusion-checkpoint", "x": _Payload(marker)}, path)
    expect_one_line(path, "refused")
    assert not marker.exists()
