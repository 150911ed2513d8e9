"""benchmarks/speaker_adaptation.py: unshifted, it scores exactly as `edgefusion eval` does; its rows."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from rich.console import Console

from edgefusion.data.corpus import scan_corpus
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError
from edgefusion.evaluate import predict_clips
from edgefusion.model.checkpoint import load_checkpoint
from tests.conftest import load_benchmark


def load_study() -> ModuleType:
    return load_benchmark("speaker_adaptation")


@pytest.fixture
def embedded(cremad_tones: Path, untrained_checkpoint: Path, tmp_path: Path) -> tuple:
    study = load_study()
    model, _ = load_checkpoint(untrained_checkpoint)
    model.eval()
    clips = scan_corpus(cremad_tones)
    store = ClipStore(model.cfg, tmp_path / "cache")
    return study, model, clips, store, study.embed_clips(model, clips, store, lambda: None)


def test_unshifted_probabilities_are_evals(embedded: tuple) -> None:
    study, model, clips, store, embeddings = embedded
    probs = study.Scorer(model, embeddings).probs(np.zeros((len(clips), model.cfg.embed_dim)))
    ref = predict_clips(model, clips, store, study.HOP_SECONDS)
    np.testing.assert_allclose(probs["fused"], ref.probs["fused"], atol=1e-5)
    np.testing.assert_allclose(probs["audio"], ref.probs["audio"], atol=1e-5)


def test_a_shift_reaches_both_heads(embedded: tuple) -> None:
    study, model, clips, _, embeddings = embedded
    scorer = study.Scorer(model, embeddings)
    still = scorer.probs(np.zeros((len(clips), model.cfg.embed_dim)))
    # not a constant vector: the heads' LayerNorm removes a shift common to every feature
    shift = np.random.default_rng(0).normal(0.0, 1.0, model.cfg.embed_dim)
    moved = scorer.probs(np.tile(shift, (len(clips), 1)))
    for head in ("fused", "audio"):
        assert np.abs(moved[head] - still[head]).max() > 1e-3


def test_rows_of_every_enrolment(embedded: tuple) -> None:
    study, model, clips, store, embeddings = embedded
    train = [c for c in clips if c.actor == "1001"]
    test = [c for c in clips if c.actor != "1001"]
    ordered = [embeddings[clips.index(c)] for c in (*train, *test)]
    console = Console(record=True, width=120)
    rows = study.measure(model, ordered, train, test, [2, 99], 3, 0, console)
    enrolments = [(r["enrolment"], r["clips"]) for r in rows]
    assert enrolments == [("none", 0), ("others", 11), ("random", 2), ("running", 0), ("neutral", 2)]
    assert "skipping --enrol 99: a speaker has only 12 clips" in console.export_text()
    for drawn in (rows[2], rows[3]):
        assert drawn["draws"] == 3
        assert drawn["fused"]["min"] <= drawn["fused"]["accuracy"] <= drawn["fused"]["max"]
    unshifted = predict_clips(model, test, store, study.HOP_SECONDS).scores()
    assert rows[0]["fused"]["accuracy"] == pytest.approx(unshifted["fused"].accuracy)


def test_bad_enrolment_counts_get_one_line() -> None:
    study = load_study()
    assert study.parse_counts("4, 8,16") == [4, 8, 16]
    for bad in ("", "four", "4,0", "-2"):
        with pytest.raises(EdgefusionError, match="--enrol"):
            study.parse_counts(bad)


def test_running_shifts_centre_on_what_was_heard_before() -> None:
    study = load_study()
    # two speakers; clip i has i + 1 windows, every feature equal to 10 * i
    embeddings = [np.full((i + 1, 2), 10.0 * i) for i in range(5)]
    target = np.array([1.0, -1.0])
    shifts = study.running_shifts(embeddings, [[2, 0, 1], [4, 3]], target)
    np.testing.assert_allclose(shifts[2], 0.0)  # first heard: nothing to centre on
    np.testing.assert_allclose(shifts[0], target - 20.0)  # after clip 2 (3 windows of 20)
    np.testing.assert_allclose(shifts[1], target - (3 * 20.0 + 1 * 0.0) / 4)  # window-weighted mean
    np.testing.assert_allclose(shifts[4], 0.0)
    np.testing.assert_allclose(shifts[3], target - 40.0)  # the other speaker's clips never mix in
