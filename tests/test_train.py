"""The training loop on a small real corpus of tone clips: determinism, outputs, schedule."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from edgefusion.config import ModelConfig, TrainConfig
from edgefusion.data.corpus import scan_corpus
from edgefusion.data.splits import split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.train import TensorBatch, drop_modalities, lr_factor, mixup, train

SMALL = ModelConfig(blocks=((16, 2), (24, 2)), stem_channels=8, embed_dim=32, heads=2)
QUICK = TrainConfig(epochs=2, batch_size=8, warmup_epochs=1)


def run(corpus: Path, out: Path, cache: Path) -> torch.nn.Module:
    clips = scan_corpus(corpus)
    tr, va = split_by_actor(clips, ["1003"])
    train(tr, va, out, SMALL, QUICK, ClipStore(SMALL, cache))
    return load_checkpoint(out)[0]


def test_same_seed_same_model_and_a_summary(cremad_tones: Path, tmp_path: Path) -> None:
    a = run(cremad_tones, tmp_path / "a.pt", tmp_path / "cache")
    b = run(cremad_tones, tmp_path / "b.pt", tmp_path / "cache")  # second run reads the cache
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    summary = json.loads((tmp_path / "a.json").read_text())
    assert summary["val_actors"] == ["1003"] and "1003" not in summary["train_actors"]
    assert len(summary["history"]) == QUICK.epochs
    assert summary["best_epoch"] in (1, 2)
    assert set(summary["val"]) == {"fused", "audio"}  # no video in this corpus
    assert any((tmp_path / "cache").iterdir())


def test_lr_schedule_warms_up_then_decays() -> None:
    f = [lr_factor(s, 10, 100) for s in range(100)]
    assert f[0] == 0.1 and f[9] == 1.0
    assert all(x >= y for x, y in itertools.pairwise(f[10:]))
    assert f[-1] < 0.01


def test_modality_dropout_only_touches_clips_with_both() -> None:
    present = torch.tensor([[1.0, 1.0]] * 50 + [[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    batch = TensorBatch(torch.zeros(60, 4), None, present)
    out = drop_modalities(batch, 1.0, np.random.default_rng(0)).present
    assert (out[:50].sum(1) == 1).all()  # each lost exactly one
    assert 10 < int(out[:50, 0].sum()) < 40  # both kinds of loss happen
    assert torch.equal(out[50:], present[50:])  # single-modality clips never lose their only one
    assert torch.equal(drop_modalities(batch, 0.0, np.random.default_rng(0)).present, present)


def test_mixup_blends_inputs_and_targets_alike() -> None:
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(6, 100, generator=g)
    video = torch.randint(0, 256, (6, 2, 4, 4, 3), dtype=torch.uint8, generator=g)
    present = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    targets = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 4, 5]), 6).float()
    mixed, soft = mixup(TensorBatch(audio, video, present), targets, 0.4, np.random.default_rng(1))

    # each sample's own class carries lam (1 where a sample drew itself), its partner's 1 - lam
    own = torch.arange(6)
    weight = soft[own, own]
    drawn_other = weight < 1
    assert drawn_other.sum() >= 4
    lam = float(weight[drawn_other][0])
    torch.testing.assert_close(weight[drawn_other], torch.full((int(drawn_other.sum()),), lam))
    partner = torch.where(drawn_other, (soft - torch.diag(weight)).argmax(1), own)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    torch.testing.assert_close(mixed.audio, lam * audio + (1 - lam) * audio[partner])
    # uint8 frames are blended in float and rounded back
    blend = lam * video.float() + (1 - lam) * video[partner].float()
    assert mixed.video is not None and mixed.video.dtype == torch.uint8
    assert (mixed.video.float() - blend).abs().max() <= 0.5 + 1e-4
    # a modality is present only where both samples have it
    torch.testing.assert_close(mixed.present, present * present[partner])


def test_training_with_mixup_runs_and_differs(cremad_tones: Path, tmp_path: Path) -> None:
    clips = scan_corpus(cremad_tones)
    tr, va = split_by_actor(clips, ["1003"])
    store = ClipStore(SMALL, tmp_path / "cache")
    plain = train(tr, va, tmp_path / "plain.pt", SMALL, QUICK, store)
    mixed = train(tr, va, tmp_path / "mixed.pt", SMALL, replace(QUICK, mixup_alpha=0.4), store)
    assert all(np.isfinite(row["loss"]) for row in mixed.history)
    assert [row["loss"] for row in mixed.history] != [row["loss"] for row in plain.history]
