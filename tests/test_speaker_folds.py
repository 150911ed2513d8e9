"""benchmarks/speaker_folds.py: folds that never share a speaker, the recipe through the real CLI
beside the yardstick on the same speakers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

folds = load_benchmark("speaker_folds")


def test_folds_are_contiguous_disjoint_and_cover_every_actor() -> None:
    actors = [f"{i:02d}" for i in range(1, 17)]
    assert folds.folds_of(actors, 4) == [actors[0:4], actors[4:8], actors[8:12], actors[12:16]]
    uneven = folds.folds_of(actors[:10], 4)
    assert [len(g) for g in uneven] == [3, 3, 2, 2] and [a for g in uneven for a in g] == actors[:10]


def test_a_group_over_two_corpora_is_summarised_per_corpus() -> None:
    def figures(acc: float) -> dict[str, float]:
        return {"accuracy": acc, "macro_f1": acc / 2, "adapted": acc + 0.1, "adapted_f1": acc / 2 + 0.05}

    runs = []
    for name, (emodb, emovo) in {"a": (0.6, 0.3), "b": (0.4, 0.5)}.items():
        run = folds.Run(name, ["emodb:03", "emovo:f1"], ["ravdess:01"], 0, figures(0.5), figures(0.4))
        run.per_corpus = {
            "emodb": {"recipe": figures(emodb), "yardstick": figures(0.2)},
            "emovo": {"recipe": figures(emovo), "yardstick": figures(0.3)},
        }
        runs.append(run)
    summary = folds.summarise(runs)
    assert summary["lead"]["accuracy"] == pytest.approx(0.1)
    emodb, emovo = summary["per_corpus"]["emodb"], summary["per_corpus"]["emovo"]
    assert emodb["recipe"]["accuracy"] == pytest.approx(0.5) and emodb["lead"]["accuracy"] == pytest.approx(0.3)
    assert emovo["recipe"]["adapted"] == pytest.approx(0.5) and emovo["lead"]["accuracy"] == pytest.approx(0.1)
    rows = folds.table(runs, summary).row_count
    assert rows == 2 * 3 + 2 * 3  # each run and its two corpora; overall and per-corpus means with their leads


@pytest.mark.slow
def test_one_fold_trained_and_scored_by_the_cli(av_corpus: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "runs", tmp_path / "folds.json"
    args = [str(av_corpus), "--test", "1003", "--train-arg=--epochs=1", "--yardstick-epochs", "1"]
    args += ["--out", str(out), "--json", str(report)]
    assert folds.main(args) == 0
    record = json.loads(report.read_text())
    (run,) = record["runs"]
    assert run["test"] == ["crema-d:1003"] and run["train"] == ["crema-d:1001", "crema-d:1002"]
    assert run["val_actors"] and set(run["val_actors"]) < {"1001", "1002"}
    scored = json.loads((out / f"{run['name']}.eval.json").read_text())
    assert scored["actors"] == ["1003"]
    assert run["recipe"]["accuracy"] == scored["fused"]["accuracy"]
    assert run["recipe"]["adapted"] == scored["speaker_adapted"]["fused"]["accuracy"]
    trained = json.loads((out / f"{run['name']}.json").read_text())
    assert trained["train_config"]["epochs"] == 1  # --train-arg reached `edgefusion train`
    # the yardstick trained on the same speakers and scored the same clips
    yard = json.loads((out / f"{run['name']}.yardstick.json").read_text())
    assert yard["train"] == "crema-d:1001,crema-d:1002" and yard["test"] == "crema-d:1003"
    assert yard["runs"][0]["n"] == scored["fused"]["n"] and yard["epochs"] == 1
    assert run["yardstick"]["accuracy"] == yard["runs"][0]["unadapted"]["accuracy"]
    lead = record["summary"]["lead"]["accuracy"]
    assert lead == pytest.approx(run["recipe"]["accuracy"] - run["yardstick"]["accuracy"])

    model = out / f"{run['name']}.pt"
    stamp = model.stat().st_mtime_ns
    assert folds.main(args) == 0  # resumed: read, not trained again
    assert model.stat().st_mtime_ns == stamp
    assert json.loads(report.read_text())["runs"][0]["recipe"] == run["recipe"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--folds", "1"], "--folds 1: need 2 to 3 folds"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--seeds", "a"], "--seeds 'a'"),
        (["--test", "1009"], "no clips of actor(s) 1009"),
        (["--test", "1003", "--train", "1002-1003"], "crema-d:1003 in both --train and --test"),
        (["--fold-corpus", "emodb"], "--fold-corpus emodb: no such corpus among DATA (crema-d)"),
    ],
)
def test_bad_arguments_are_one_line(
    av_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    assert folds.main([str(av_corpus), "--out", str(tmp_path / "runs"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0]
