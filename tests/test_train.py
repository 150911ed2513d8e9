"""The training loop on a small real corpus of tone clips: determinism, outputs, schedule."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from edgefusion.config import ModelConfig, TrainConfig
from edgefusion.data.corpus import Clip, scan_corpus
from edgefusion.data.splits import split_by_actor
from edgefusion.data.store import ClipStore
from edgefusion.errors import EdgefusionError
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.train import (
    TensorBatch,
    distil_loss,
    drop_modalities,
    epoch_draws,
    lr_factor,
    mixup,
    teacher_targets,
    train,
)

SMALL = ModelConfig(blocks=((16, 2), (24, 2)), stem_channels=8, embed_dim=32, heads=2)
QUICK = TrainConfig(epochs=2, batch_size=8, warmup_epochs=1)


def run(corpus: Path, out: Path, cache: Path) -> torch.nn.Module:
    clips = scan_corpus(corpus)
    tr, va = split_by_actor(clips, ["1003"])
    train(tr, va, out, SMALL, QUICK, ClipStore(SMALL, cache))
    return load_checkpoint(out)[0]


@pytest.mark.slow
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


@pytest.mark.slow
def test_training_with_mixup_runs_and_differs(cremad_tones: Path, tmp_path: Path) -> None:
    clips = scan_corpus(cremad_tones)
    tr, va = split_by_actor(clips, ["1003"])
    store = ClipStore(SMALL, tmp_path / "cache")
    plain = train(tr, va, tmp_path / "plain.pt", SMALL, QUICK, store)
    mixed = train(tr, va, tmp_path / "mixed.pt", SMALL, replace(QUICK, mixup_alpha=0.4), store)
    assert all(np.isfinite(row["loss"]) for row in mixed.history)
    assert [row["loss"] for row in mixed.history] != [row["loss"] for row in plain.history]


def _clip(corpus: str, label: int, i: int) -> Clip:
    return Clip(f"{corpus}-{label}-{i}", label, "01", Path(f"{corpus}-{i}.wav"), None, corpus)


def test_balanced_epochs_draw_every_corpus_and_class_alike() -> None:
    # a large corpus with a dominant class beside a small one: 300 + 60 + 30 + 10 clips
    clips = [_clip("big", 0, i) for i in range(300)] + [_clip("big", 1, i) for i in range(60)]
    clips += [_clip("small", 0, i) for i in range(30)] + [_clip("small", 2, i) for i in range(10)]
    draws = np.concatenate([epoch_draws(clips, True, np.random.default_rng(s)) for s in range(20)])
    cells = Counter((clips[i].corpus, clips[i].label) for i in draws)
    shares = np.array(list(cells.values())) / len(draws)
    assert len(cells) == 4 and np.allclose(shares, 0.25, atol=0.02), cells
    # unbalanced: every clip exactly once per epoch
    once = epoch_draws(clips, False, np.random.default_rng(0))
    assert sorted(once.tolist()) == list(range(len(clips)))


@pytest.mark.slow
def test_distillation_learns_from_the_teachers(cremad_tones: Path, tmp_path: Path) -> None:
    clips = scan_corpus(cremad_tones)
    tr, va = split_by_actor(clips, ["1003"])
    store = ClipStore(SMALL, tmp_path / "cache")
    train(tr, va, tmp_path / "teacher.pt", SMALL, QUICK, store)
    teacher = load_checkpoint(tmp_path / "teacher.pt")[0]
    plain = train(tr, va, tmp_path / "plain.pt", SMALL, QUICK, store)
    student = train(tr, va, tmp_path / "student.pt", SMALL, QUICK, store, teachers=[teacher, teacher])
    # the same seed and data: only the teachers' soft targets differ between the two runs
    assert all(np.isfinite(row["loss"]) for row in student.history)
    assert [row["loss"] for row in student.history] != [row["loss"] for row in plain.history]
    assert json.loads((tmp_path / "student.json").read_text())["teachers"] == 2
    # a teacher that scores its own windows exactly as the student will has zero distillation loss
    batch = TensorBatch(torch.randn(4, SMALL.window_samples) * 0.1, None, torch.tensor([[1.0, 0.0]] * 4))
    with torch.no_grad():
        outputs = teacher(batch.audio, batch.video, batch.present)
    soft = teacher_targets([teacher], batch, QUICK.distil_temperature)
    assert float(distil_loss(outputs, soft, batch.present, QUICK)) < 1e-5
    wide = replace(SMALL, window_seconds=1.0)
    with pytest.raises(EdgefusionError, match="teacher takes 2 s windows, the student 1 s"):
        train(tr, va, tmp_path / "x.pt", wide, QUICK, store, teachers=[teacher])


@pytest.mark.slow
def test_a_piped_log_gets_one_line_per_epoch(cremad_tones: Path, tmp_path: Path) -> None:
    clips = scan_corpus(cremad_tones)
    tr, va = split_by_actor(clips, ["1003"])
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=200)
    train(tr, va, tmp_path / "m.pt", SMALL, QUICK, ClipStore(SMALL, tmp_path / "cache"), console)
    lines = [line for line in log.getvalue().splitlines() if line.startswith("epoch ")]
    assert len(lines) == QUICK.epochs
    assert re.fullmatch(r"epoch 2/2 loss \d+\.\d{3} val acc \d+\.\d% F1 \d\.\d{3} \d+ s", lines[-1]), lines[-1]
    assert "━" not in log.getvalue()  # no progress bar drawn into the log


def test_default_epochs_follow_the_data_size() -> None:
    tcfg = TrainConfig()
    assert tcfg.epochs_for(400) == 60 and tcfg.epochs_for(1330) == 18 and tcfg.epochs_for(10**6) == 10
    assert replace(tcfg, epochs=3).epochs_for(1330) == 3


@pytest.mark.slow
def test_two_processes_under_torchrun_train_once_and_deterministically(av_corpus: Path, tmp_path: Path) -> None:
    """`--nproc 2`: torchrun starts two processes (gloo on this CPU); rank 0 alone reports and
    writes, and a second run with the same seed and process count writes the same weights."""
    from tests.conftest import cli

    weights = []
    for name in ("a.pt", "b.pt"):
        out = tmp_path / name
        proc = cli("train", av_corpus, "--out", out, "--epochs", "1", "--batch-size", "8", "--val-actors", "1003",
                   "--nproc", "2", cache=tmp_path / "cache")  # fmt: skip
        assert "training in 2 processes" in proc.stderr and proc.stdout.count("wrote ") == 1
        assert json.loads(out.with_suffix(".json").read_text())["processes"] == 2
        weights.append(load_checkpoint(out)[0].state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.slow
def test_two_processes_train_on_speech_alone(cremad_tones: Path, tmp_path: Path) -> None:
    """Audio-only data leaves the video path without gradients: the processes must not wait for them."""
    from tests.conftest import cli

    out = tmp_path / "m.pt"
    cli("train", cremad_tones, "--out", out, "--epochs", "1", "--batch-size", "8", "--val-actors", "1003",
        "--nproc", "2", cache=tmp_path / "cache")  # fmt: skip
    assert load_checkpoint(out)[1]["modalities"] == ["audio"]


def test_more_processes_than_the_data_allows_is_one_line(cremad_tones: Path, tmp_path: Path) -> None:
    from tests.conftest import cli, one_line_error

    out = tmp_path / "m.pt"
    proc = cli("train", cremad_tones, "--out", out, "--batch-size", "2", "--nproc", "3", check=False)
    one_line_error(proc, "--nproc 3 is more than --batch-size 2")
    one_line_error(cli("train", cremad_tones, "--out", out, "--nproc", "0", check=False), "--nproc must be at least 1")
