"""The command line end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import EDGEFUSION, cli, one_line_error, tone, write_wav


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def synthetic(workdir: Path) -> Path:
    corpus = workdir / "corpus"
    cli("make-corpus", corpus, "--actors", "3", "--sentences", "1", cache=workdir)
    return corpus


@pytest.fixture(scope="module")
def trained(synthetic: Path, workdir: Path) -> Path:
    model = workdir / "model.pt"
    cli("train", synthetic, "--out", model, "--epochs", "2", "--val-actors", "1003", cache=workdir)
    return model


@pytest.mark.slow
def test_train_eval_info_on_the_synthetic_corpus(trained: Path, synthetic: Path, workdir: Path) -> None:
    summary = json.loads(trained.with_suffix(".json").read_text())
    assert summary["val_actors"] == ["1003"] and summary["train_actors"] == ["1001", "1002"]
    assert set(summary["val"]) == {"fused", "audio", "video"}

    report, plot = workdir / "eval.json", workdir / "confusion.png"
    proc = cli("eval", trained, synthetic, "--actors", "1003", "--json", report, "--plot", plot, cache=workdir)
    scores = json.loads(report.read_text())
    assert scores["actors"] == ["1003"]
    for name in ("fused", "audio", "video"):
        assert scores[name]["n"] == 6
        assert sum(map(sum, scores[name]["confusion"])) == 6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "accuracy" in proc.stdout

    info = cli("info", trained).stdout
    for needle in ("parameters", "MACs audio path", "MACs video path", "present", "ANG, DIS, FEA, HAP, NEU, SAD"):
        assert needle in info
    # train stored the reference speaker adaptation centres on
    from edgefusion.model.checkpoint import load_checkpoint

    reference = load_checkpoint(trained)[1]["audio_reference"]
    assert len(reference) == 128 and all(map(math.isfinite, reference)) and any(reference)
    assert "speaker adaptation" in info and "ready" in info


def test_help_explains_every_verb() -> None:
    top = cli("--help").stdout
    for verb in ("train", "eval", "info", "make-corpus"):
        assert verb in top
        assert "Usage" in cli(verb, "--help").stdout


def test_help_shows_every_bracketed_default() -> None:
    """Rich reads ``[default: ...]`` in a help text as a markup tag and drops it unless escaped."""
    import typer.main

    from edgefusion.cli_running import app  # the whole command line: cli.app with the running verbs added

    group = typer.main.get_command(app)
    checked = 0
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        texts = [p.help for p in command.params if getattr(p, "help", None) and "[" in p.help]
        if not texts:
            continue
        shown = " ".join(cli(name, "--help").stdout.replace("│", " ").split())
        for text in texts:
            for part in re.findall(r"\[[^\]]*\]", text.replace("\\[", "[")):
                assert " ".join(part.split()) in shown, f"{name} --help lost {part!r}"
                checked += 1
    assert checked >= 10  # the train, export, calibrate, run and bench defaults at least


def test_bad_folders(tmp_path: Path) -> None:
    one_line_error(cli("train", tmp_path / "missing", check=False), "missing", "no such folder")
    (tmp_path / "empty").mkdir()
    one_line_error(cli("train", tmp_path / "empty", check=False), "empty", "folder is empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hi")
    one_line_error(cli("train", tmp_path / "junk", check=False), "junk", "no CREMA-D")


def test_unknown_label_code(tmp_path: Path) -> None:
    write_wav(tmp_path / "d" / "AudioWAV" / "1001_DFA_BOR_XX.wav", tone(1.0, 200))
    one_line_error(cli("train", tmp_path / "d", check=False), "1001_DFA_BOR_XX.wav", "unknown emotion code 'BOR'")


def bad_audio_corpus(root: Path, name: str, content: bytes) -> Path:
    for actor in ("1001", "1002"):
        for emo in ("ANG", "SAD"):
            write_wav(root / "AudioWAV" / f"{actor}_DFA_{emo}_XX.wav", tone(1.0, 300))
    (root / "AudioWAV" / name).write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("content", "problem"), [(b"", "empty file"), (b"RIFF\x00\x00junkjunkjunk" * 10, "not a readable audio file")]
)
def test_empty_or_corrupt_wav(tmp_path: Path, content: bytes, problem: str) -> None:
    data = bad_audio_corpus(tmp_path / "d", "1002_IEO_HAP_XX.wav", content)
    proc = cli("train", data, "--epochs", "1", "--val-actors", "1002", cache=tmp_path, check=False)
    one_line_error(proc, "1002_IEO_HAP_XX.wav", problem)


def test_checkpoint_errors_reach_the_user_as_one_line(tmp_path: Path, synthetic: Path) -> None:
    not_ckpt = tmp_path / "x.pt"
    not_ckpt.write_text("hello")
    one_line_error(cli("info", not_ckpt, check=False), "x.pt", "not a PyTorch checkpoint")
    for name, problem in (("x.bin", "unknown artifact type"), ("x.engine", "build record is")):
        (tmp_path / name).write_text("hello")
        one_line_error(cli("info", tmp_path / name, check=False), name, problem)
    one_line_error(cli("eval", tmp_path / "none.pt", synthetic, check=False), "none.pt", "no such file")
    old = tmp_path / "old.pt"
    torch.save({"format": "edgefusion-checkpoint", "format_version": 0}, old)
    one_line_error(cli("info", old, check=False), "old.pt", "format version 0")


def test_bad_options(tmp_path: Path, trained: Path, synthetic: Path) -> None:
    one_line_error(cli("train", synthetic, "--epochs", "0", check=False), "--epochs must be positive")
    one_line_error(cli("train", synthetic, "--val-actors", "42", check=False), "no clips of actor(s) 42")
    one_line_error(
        cli("eval", trained, synthetic, "--json", tmp_path / "nope" / "x.json", check=False), "does not exist"
    )
    # checked before the scoring, not after it: a folder, a plot format matplotlib would refuse
    one_line_error(cli("eval", trained, synthetic, "--json", tmp_path, check=False), "is a folder: give a file name")
    for plot in ("conf.txt", "confusion"):  # no suffix: matplotlib would write confusion.png instead
        proc = cli("eval", trained, synthetic, "--plot", tmp_path / plot, check=False)
        one_line_error(proc, plot, "a plot is written as .png, .pdf, .svg")
    one_line_error(cli("eval", trained, synthetic, "--actors", "", check=False), "--actors '' names no actor")
    one_line_error(cli("export", trained, "-o", tmp_path, check=False), "is a folder: give a file name")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    """The parser's own errors read like every other error: one line, the verb, where to look."""
    line = one_line_error(cli("train", check=False), "Missing argument 'DATA'", "see 'edgefusion train --help'")
    assert line.startswith("error: edgefusion train: ")
    one_line_error(cli("eval", "m.pt", tmp_path, "--hop", "abc", check=False), "Invalid value for '--hop'")
    one_line_error(cli("train", tmp_path, "--nope", check=False), "No such option: --nope")
    proc = cli("bogus", check=False)
    one_line_error(proc, "No such command 'bogus'")
    assert proc.returncode == 2 and proc.stdout == ""


def test_no_verb_shows_the_help() -> None:
    proc = cli()
    assert "Usage: edgefusion" in proc.stdout and "train" in proc.stdout and proc.stderr == ""


def test_ctrl_c_stops_with_one_word(synthetic: Path, tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), COLUMNS="160")
    cmd = [*EDGEFUSION, "train", str(synthetic), "--out", str(tmp_path / "m.pt"), "--epochs", "500"]
    # a shell's background job starts with SIGINT ignored, and Python keeps an ignored SIGINT
    # ignored: give the child the default disposition, as a terminal's foreground job has
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=restore
    )
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # the split is printed once the corpus is read: training is under way
        said.append(line)
        if line.startswith("val:"):
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, "".join(said) + rest
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == "interrupted", rest
    assert not (tmp_path / "m.pt").exists()  # nothing half-written


def test_paths_with_brackets_print_as_they_are(tmp_path: Path) -> None:
    """Rich markup would read '[old]' as a tag and name another file."""
    one_line_error(cli("info", tmp_path / "model[old].pt", check=False), "model[old].pt: no such file")


def test_low_rate_stereo_and_short_clips_are_not_errors(tmp_path: Path, trained: Path) -> None:
    data = tmp_path / "d"
    for i, emo in enumerate(("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")):
        write_wav(data / "AudioWAV" / f"1009_DFA_{emo}_XX.wav", tone(2.5, 200 + 50 * i, sr=8000, channels=2), sr=8000)
        write_wav(data / "AudioWAV" / f"1009_IEO_{emo}_XX.wav", tone(0.4, 300), sr=16000)  # shorter than a window
    report = tmp_path / "r.json"
    cli("eval", trained, data, "--json", report, cache=tmp_path)
    assert json.loads(report.read_text())["fused"]["n"] == 12


def test_help_reads_as_conventional_help() -> None:
    """No typer-0.29 type tags (<int>, <bool> on flags) or braces around required arguments."""
    for verb in ("train", "eval", "calibrate", "run", "bench", "make-corpus"):
        text = cli(verb, "--help").stdout
        assert not re.search(r"<(int|bool|str|float|path|list\[[^\]]*\])>", text), (verb, text)
        assert not re.search(r"\{[A-Z]+\}", text), (verb, text)
    train = cli("train", "--help").stdout
    assert "Usage: edgefusion train [OPTIONS] DATA..." in train
    assert re.search(r"--epochs\s+INTEGER", train) and re.search(r"--calm-as-neutral\s+RAVDESS", train)
