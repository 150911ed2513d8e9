"""Outputs that never destroy work: each refusal is one line, before any work, with every input intact."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgefusion.atomic import write_atomic
from edgefusion.errors import EdgefusionError
from edgefusion.outputs import check_outputs, claim, lock_path
from tests.conftest import cli, one_line_error


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_output_that_is_an_input_is_refused_by_name_by_link_and_by_another_path(tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    link = tmp_path / "link.pt"
    link.symlink_to(model)
    for given in (model, link, tmp_path / "." / "m.pt"):
        with pytest.raises(EdgefusionError, match="--out is also the input CHECKPOINT"):
            check_outputs([("--out", given)], inputs=[("CHECKPOINT", model)])
    check_outputs([("--out", tmp_path / "m.onnx")], inputs=[("CHECKPOINT", model)])  # a new file is fine


def test_two_outputs_of_one_command_at_one_path_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    with pytest.raises(EdgefusionError, match="the summary and --out are the same file"):
        check_outputs([("--out", out), ("the summary", out.with_suffix(".json"))])


def test_an_existing_file_in_an_input_folder_is_refused_but_a_new_one_is_not(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "AudioWAV").mkdir(parents=True)
    clip = corpus / "AudioWAV" / "1001_DFA_ANG_XX.wav"
    clip.write_bytes(b"RIFF")
    with pytest.raises(EdgefusionError, match="would overwrite a file of the corpus"):
        check_outputs([("--json", clip)], input_folders=[corpus])
    check_outputs([("--json", corpus / "report.json")], input_folders=[corpus])


def test_missing_or_unwritable_folders_fail_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(EdgefusionError, match="does not exist"):
        check_outputs([("--out", tmp_path / "gone" / "m.pt")])
    with pytest.raises(EdgefusionError, match="is a folder"):
        check_outputs([("--out", tmp_path)])
    with pytest.raises(EdgefusionError, match="a plot is written as"):
        check_outputs([("--plot", tmp_path / "c.txt")])
    assert not list(tmp_path.glob(".*probe"))  # the probe is gone


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: a read-only one, or /sys for root (whom
    file modes do not stop); skips where neither is available."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return folder
    try:
        (Path("/sys") / ".edgefusion-probe").touch()
    except OSError:
        return Path("/sys")
    pytest.skip("root can write in /sys here: no folder refuses this process")


def test_an_unwritable_folder_fails_before_the_work(tmp_path: Path) -> None:
    folder = unwritable_folder(tmp_path)
    with pytest.raises(EdgefusionError, match="cannot write in"):
        check_outputs([("--out", folder / "m.pt")])


def test_verbs_check_an_unwritable_folder_before_any_work(
    tmp_path: Path, cremad_tones: Path, untrained_checkpoint: Path
) -> None:
    folder, cache = unwritable_folder(tmp_path), tmp_path / "cache"
    clip = next((cremad_tones / "AudioWAV").glob("*.wav"))
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"an onnx file")  # refused before it is read
    for args in (
        ["train", cremad_tones, "--out", folder / "m.pt", "--epochs", "1"],
        ["export", untrained_checkpoint, "-o", folder / "m.onnx"],
        ["calibrate", onnx, cremad_tones, "-o", folder / "q.onnx", "--target", "cpu"],
        ["eval", untrained_checkpoint, cremad_tones, "--json", folder / "e.json"],
        ["run", untrained_checkpoint, "--audio", f"file://{clip}", "--fast", "--jsonl", folder / "e.jsonl"],
        ["bench", untrained_checkpoint, "--runs", "1", "--json", folder / "b.json"],
    ):
        line = one_line_error(cli(*args, cache=cache, check=False))
        assert f"cannot write in {folder}" in line, (args[0], line)
    assert not (cache / "edgefusion").exists()  # each refused before reading a corpus into its clip cache


def test_a_claim_refuses_a_second_writer_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    with claim(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())
        with pytest.raises(EdgefusionError, match=f"pid {os.getpid()}"), claim(out):
            pass
    assert not lock_path(out).exists()
    # a lock whose process has exited is stale
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path(out).write_text(dead.stdout)
    with claim(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        new = write_atomic(tmp_path / "a.onnx", lambda f: f.write(b"x"))
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # not the temporary file's 0600
        kept = tmp_path / "b.onnx"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        write_atomic(kept, lambda f: f.write(b"new"))
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
    finally:
        os.umask(mask)


# -- through the CLI, as a user hits them ------------------------------------------------------


def refused(args: list[str | Path], inputs: list[Path], new: Path | None, cache: Path) -> str:
    """Run ``edgefusion ARGS``: one error line, every input byte for byte as before, nothing at ``new``."""
    before = {p: digest(p) for p in inputs}
    line = one_line_error(cli(*args, cache=cache, check=False))
    assert {p: digest(p) for p in inputs} == before
    if new is not None:
        assert not new.exists()
    return line


def test_verbs_refuse_to_overwrite_their_inputs(tmp_path: Path, cremad_tones: Path, untrained_checkpoint: Path) -> None:
    cache = tmp_path / "cache"
    model = tmp_path / "m.pt"
    model.write_bytes(untrained_checkpoint.read_bytes())
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"an onnx file")  # refused before it is read
    clip = next((cremad_tones / "AudioWAV").glob("*.wav"))

    line = refused(["export", model, "-o", model], [model], None, cache)
    assert "--out is also the input CHECKPOINT" in line and str(model) in line
    line = refused(["calibrate", onnx, cremad_tones, "-o", onnx, "--target", "cpu"], [onnx], None, cache)
    assert "--out is also the input ONNX" in line
    line = refused(["eval", onnx, cremad_tones, "--json", onnx], [onnx], None, cache)
    assert "--json is also the input MODEL" in line
    line = refused(["eval", model, cremad_tones, "--json", clip], [model, clip], None, cache)
    assert "would overwrite a file of the corpus" in line
    line = refused(["run", model, "--audio", f"file://{clip}", "--jsonl", clip, "--fast"], [clip], None, cache)
    assert "--jsonl is also the input --audio" in line


def test_train_checks_its_outputs_before_reading_a_clip(tmp_path: Path, cremad_tones: Path) -> None:
    cache = tmp_path / "cache"
    clips = sorted((cremad_tones / "AudioWAV").glob("*.wav"))
    out = tmp_path / "x" / "model.json"
    out.parent.mkdir()
    line = refused(["train", cremad_tones, "--out", out, "--epochs", "1"], clips, out, cache)
    assert "the training summary and --out are the same file" in line
    gone = tmp_path / "gone" / "m.pt"
    line = refused(["train", cremad_tones, "--out", gone, "--epochs", "1"], clips, gone, cache)
    assert "folder" in line and "does not exist" in line
    assert not (cache / "edgefusion").exists()  # refused before the corpus was read into the clip cache


def test_a_second_training_to_a_busy_out_is_refused(tmp_path: Path, cremad_tones: Path) -> None:
    out = tmp_path / "m.pt"
    lock_path(out).write_text(f"{os.getpid()}\n")  # this test process is the live writer
    line = refused(["train", cremad_tones, "--out", out, "--epochs", "1"], [], out, tmp_path / "cache")
    assert f"another edgefusion process (pid {os.getpid()}) is writing it" in line
    assert lock_path(out).exists()  # the holder's lock is left alone


# -- artifacts checked against the contract before use ----------------------------------------


def foreign_onnx(path: Path) -> Path:
    """A valid ONNX graph (one Identity) that carries a copy of edgefusion's metadata."""
    import onnx
    from onnx import TensorProto, helper

    from edgefusion.artifact.contract import contract
    from edgefusion.artifact.metadata import new_meta, save_onnx, set_metadata
    from edgefusion.config import ModelConfig
    from edgefusion.labels import CLASSES

    x = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 32000])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 32000])
    graph = helper.make_graph([helper.make_node("Identity", ["audio"], ["logits"])], "foreign", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    cfg = ModelConfig()
    set_metadata(model, new_meta(cfg, list(CLASSES), contract(cfg, 1), "fp32"))
    return save_onnx(model, path)


def test_metadata_copied_onto_a_foreign_graph_is_refused(tmp_path: Path, cremad_tones: Path) -> None:
    from edgefusion.artifact.metadata import ArtifactError, read_metadata

    onnx_path = foreign_onnx(tmp_path / "foreign.onnx")
    with pytest.raises(ArtifactError, match="the graph has no contract input video"):
        read_metadata(onnx_path)
    cache = tmp_path / "cache"
    clip = next((cremad_tones / "AudioWAV").glob("*.wav"))
    for args in (
        ["info", onnx_path],
        ["eval", onnx_path, cremad_tones],
        ["run", onnx_path, "--audio", f"file://{clip}", "--fast"],
        ["bench", onnx_path, "--runs", "1"],
        ["calibrate", onnx_path, cremad_tones, "-o", tmp_path / "q.onnx", "--target", "cpu"],
    ):
        line = refused(args, [onnx_path], tmp_path / "q.onnx", cache)
        assert str(onnx_path) in line and "contract" in line, (args, line)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda p: p.pop("config"), "with no config; it cannot be rebuilt"),
        (lambda p: p.pop("state_dict"), "with no state_dict"),
        (lambda p: p.update(state_dict=[1, 2]), "with a list as its state_dict"),
        (lambda p: p["config"].update(embed_dim="big"), "model setting embed_dim is 'big' (str), expected int"),
        (lambda p: p["config"].update(dropout=True), "model setting dropout is True (bool), expected float"),
        (lambda p: p["config"].update(blocks=[[64, "2"]]), "blocks is [[64, '2']], expected [out_channels, stride]"),
        (lambda p: p["config"].update(spec_norm="loud"), "spec_norm 'loud': choose one of"),
    ],
)
def test_a_checkpoint_that_does_not_fit_the_contract_is_one_line(
    tmp_path: Path, untrained_checkpoint: Path, change, fragment: str
) -> None:
    import torch

    from edgefusion.errors import CheckpointError
    from edgefusion.model.checkpoint import load_checkpoint

    payload = torch.load(untrained_checkpoint, weights_only=True)
    change(payload)
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    assert str(err.value).startswith(f"{bad}: ") and fragment in str(err.value) and "\n" not in str(err.value)
