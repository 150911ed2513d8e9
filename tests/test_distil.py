"""benchmarks/distil.py: members trained through the CLI, distilled into a student, all scored alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import load_benchmark

distil = load_benchmark("distil")


@pytest.mark.slow
def test_members_ensemble_and_student_on_one_fold(cremad_tones: Path, tmp_path: Path) -> None:
    out, report, cache = tmp_path / "runs", tmp_path / "distil.json", tmp_path / "cache"
    args = [str(cremad_tones), "--test", "1003", "--seeds", "0,1", "--threads", "1"]
    args += ["--train-arg=--epochs=1", f"--train-arg=--cache-dir={cache}", "--cache-dir", str(cache)]
    assert distil.main([*args, "--out", str(out), "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["rows"]
    members = ["test-crema-d1003-crema-d1003-seed0", "test-crema-d1003-crema-d1003-seed1"]
    student = "test-crema-d1003-crema-d1003-student2"
    assert list(rows) == [*members, "ensemble of 2", student]
    trained = json.loads((out / f"{student}.json").read_text())
    assert trained["teachers"] == 2
    assert sorted(trained["train_actors"] + trained["val_actors"]) == ["1001", "1002"]  # the members' speakers
    # the ensemble averages the members' clip probabilities: recomputed here from the members
    clips = distil.clips_of(distil.load_corpora([cremad_tones]), "1003", "--test")
    labels = np.array([c.label for c in clips])
    probs = [distil.clip_probs(out / f"{m}.pt", clips, cache) for m in members]
    mean = (probs[0][0] + probs[1][0]) / 2
    assert rows["ensemble of 2"]["accuracy"] == pytest.approx(float((mean.argmax(1) == labels).mean()))
    stamp = (out / f"{student}.pt").stat().st_mtime_ns
    assert distil.main([*args, "--out", str(out)]) == 0  # members and student reused, not trained again
    assert (out / f"{student}.pt").stat().st_mtime_ns == stamp


def test_one_member_is_no_ensemble(cremad_tones: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert distil.main([str(cremad_tones), "--test", "1003", "--seeds", "0", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == "error: --seeds: an ensemble needs at least two members"
