"""The training loop.

Recipe (``TrainConfig`` defaults): AdamW, linear warm-up then cosine decay per step, label
smoothing, a random window per clip per epoch (time shift) played at a random speed within
+-10% (speed perturbation: pitch, formants and tempo move together), SpecAugment masks inside the
network, modality dropout (a clip with both modalities loses one now and then, so the model
also works on audio alone and video alone), auxiliary losses on the per-modality heads,
and optional mixup of whole windows. The epoch with the best validation macro-F1 is kept.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn import functional as F

from edgefusion import __version__
from edgefusion.adaptation import training_reference
from edgefusion.atomic import write_text_atomic
from edgefusion.config import ModelConfig, TrainConfig
from edgefusion.data.corpus import Clip, corpus_summary, trained_modalities
from edgefusion.data.splits import speaker_names
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import Window, random_window
from edgefusion.errors import EdgefusionError
from edgefusion.evaluate import Batch, collate, corpus_scores, predict_clips
from edgefusion.model.checkpoint import save_checkpoint
from edgefusion.model.network import EmotionNet


@dataclass
class TrainResult:
    checkpoint: Path
    summary_path: Path
    best_epoch: int
    val: dict[str, Any] | None
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Dist:
    """This process's place in a ``torchrun`` training: rank ``rank`` of ``world`` (1: not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0 validates, picks the epoch and writes the checkpoint; the others only train."""
        return self.rank == 0


def dist_from_env() -> Dist:
    """The ``RANK`` and ``WORLD_SIZE`` torchrun sets, with the process group joined (gloo on a
    CPU, nccl where CUDA is); ``Dist()`` outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as tdist

    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(tdist.get_rank(), tdist.get_world_size())


def _barrier(dist: Dist) -> None:
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TensorBatch:
    """A collated ``Batch`` as torch tensors: what the training step feeds the network."""

    audio: torch.Tensor  # float32 [B, S]
    video: torch.Tensor | None  # uint8 [B, T, H, W, 3]; None when no window has video
    present: torch.Tensor  # float32 [B, 2]

    @classmethod
    def of(cls, batch: Batch) -> TensorBatch:
        """Views of ``batch``'s arrays, not copies."""
        video = None if batch.video is None else torch.from_numpy(batch.video)
        return cls(torch.from_numpy(batch.audio), video, torch.from_numpy(batch.present))


def drop_modalities(batch: TensorBatch, p: float, rng: np.random.Generator) -> TensorBatch:
    """With probability ``p``, a sample that has both modalities loses one (each half the time)."""
    both = (batch.present.sum(1) == 2).numpy()
    hit = both & (rng.random(len(both)) < p)
    lose = rng.integers(0, 2, len(both))
    present = batch.present.clone()
    for i in np.flatnonzero(hit):
        present[i, lose[i]] = 0.0
    return TensorBatch(batch.audio, batch.video, present)


def mixup(
    batch: TensorBatch, targets: torch.Tensor, alpha: float, rng: np.random.Generator
) -> tuple[TensorBatch, torch.Tensor]:
    """Blend each sample with a random partner: ``lam * x + (1 - lam) * x[partner]``, same for targets.

    ``targets`` are class probabilities [B, C]. A modality counts as present only when both
    samples have it, so a missing stream's zeros never pass for a quiet one.
    """
    lam = float(rng.beta(alpha, alpha))
    partner = torch.from_numpy(rng.permutation(len(targets)))
    audio = lam * batch.audio + (1 - lam) * batch.audio[partner]
    video = batch.video
    if video is not None:
        blended = lam * video.float() + (1 - lam) * video[partner].float()
        video = blended.round().clamp(0, 255).to(torch.uint8)
    present = batch.present * batch.present[partner]
    return TensorBatch(audio, video, present), lam * targets + (1 - lam) * targets[partner]


def loss_fn(
    outputs: tuple[torch.Tensor, ...], targets: torch.Tensor, present: torch.Tensor, tcfg: TrainConfig
) -> torch.Tensor:
    """Fused cross-entropy plus ``aux_weight`` x each modality head's, over samples that have it.

    ``targets``: class indices [B] or class probabilities [B, C] (mixup).
    """
    fused, audio, video = outputs
    loss = F.cross_entropy(fused, targets, label_smoothing=tcfg.label_smoothing)
    for logits, mask in ((audio, present[:, 0]), (video, present[:, 1])):
        if mask.sum() > 0:
            per = F.cross_entropy(logits, targets, label_smoothing=tcfg.label_smoothing, reduction="none")
            loss = loss + tcfg.aux_weight * (per * mask).sum() / mask.sum()
    return loss


def epoch_draws(clips: Sequence[Clip], balanced: bool, rng: np.random.Generator) -> np.ndarray:
    """The clip indices one epoch trains on, in order: ``len(clips)`` of them.

    Balanced: drawn with replacement, every (corpus, class) cell equally likely and the clips of a
    cell equally likely within it, so a corpus or class with more clips does not dominate. Else
    every clip once, shuffled.
    """
    if not balanced:
        return rng.permutation(len(clips))
    cells = Counter((c.corpus, c.label) for c in clips)
    weights = np.array([1.0 / cells[(c.corpus, c.label)] for c in clips])
    return rng.choice(len(clips), size=len(clips), replace=True, p=weights / weights.sum())


def distil_loss(
    outputs: tuple[torch.Tensor, ...], soft: tuple[torch.Tensor, torch.Tensor], present: torch.Tensor, tcfg: TrainConfig
) -> torch.Tensor:
    """KL divergence of the student's fused and audio heads from the teachers' averaged
    probabilities at ``distil_temperature`` (scaled by T^2, Hinton et al. 2015); the audio head
    only over samples that have audio."""
    t = tcfg.distil_temperature
    loss = F.kl_div(F.log_softmax(outputs[0] / t, dim=1), soft[0], reduction="batchmean")
    mask = present[:, 0]
    if mask.sum() > 0:
        per = F.kl_div(F.log_softmax(outputs[1] / t, dim=1), soft[1], reduction="none").sum(1)
        loss = loss + tcfg.aux_weight * (per * mask).sum() / mask.sum()
    return loss * t * t


def teacher_targets(
    teachers: Sequence[EmotionNet], batch: TensorBatch, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teachers' fused and audio-head probabilities at ``temperature``, averaged over teachers."""
    fused, audio = [], []
    with torch.no_grad():
        for teacher in teachers:
            out = teacher(batch.audio, batch.video, batch.present)
            fused.append(F.softmax(out[0] / temperature, dim=1))
            audio.append(F.softmax(out[1] / temperature, dim=1))
    return torch.stack(fused).mean(0), torch.stack(audio).mean(0)


def train(
    train_clips: Sequence[Clip],
    val_clips: Sequence[Clip],
    out: str | Path,
    cfg: ModelConfig | None = None,
    tcfg: TrainConfig | None = None,
    store: ClipStore | None = None,
    console: Console | None = None,
    data_name: str = "",
    teachers: Sequence[EmotionNet] = (),
    dist: Dist = Dist(),  # frozen: one shared default is safe
) -> TrainResult | None:
    """Train on ``train_clips``, select on ``val_clips`` (last epoch when empty), save to ``out``.

    ``teachers`` (models in eval mode, e.g. members of an ensemble): the student learns from their
    averaged soft targets on its own training windows beside the labels (``distil_weight``).

    ``dist`` (under ``torchrun``): every process draws the same epoch order and takes its share
    of each batch (rank r: draws r, r + world, ...), its own augmentation stream; DistributedDataParallel
    averages the gradients, so a step sees the whole batch as one process would, but batch-norm
    statistics are each process's own (rank 0's are kept). A last batch smaller than the process
    count is dropped. Rank 0 validates, picks the epoch and writes; the others return None.
    One process keeps today's single random stream, so its results are unchanged.
    """
    cfg, tcfg = cfg or ModelConfig(), tcfg or TrainConfig()
    console = console or Console(stderr=True)
    store = store or ClipStore(cfg)
    out = Path(out)
    torch.manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)  # one process: the epoch order and the augmentation
    order_rng = rng if dist.world == 1 else np.random.default_rng(tcfg.seed)  # the same on every rank
    aug_rng = rng if dist.world == 1 else np.random.default_rng([tcfg.seed, dist.rank])
    t0 = time.perf_counter()
    epochs = tcfg.epochs_for(len(train_clips))
    for teacher in teachers:
        if teacher.cfg.window_samples != cfg.window_samples:
            raise EdgefusionError(
                f"a teacher takes {teacher.cfg.window_seconds:g} s windows, the student {cfg.window_seconds:g} s"
            )
        teacher.eval()

    console.print(f"train: {corpus_summary(list(train_clips))}")
    if val_clips:
        console.print(f"val:   {corpus_summary(list(val_clips))}")
    if not dist.main:  # rank 0 decodes into the shared cache first; the others then read it
        _barrier(dist)
    with _progress(console) as bar:
        task = bar.add_task("decoding clips", total=len(train_clips) + len(val_clips), info="")
        store.preload(list(train_clips) + list(val_clips), lambda n: bar.advance(task, n))
    if dist.main:
        _barrier(dist)

    model = EmotionNet(cfg)
    net: torch.nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # a 1x1 convolution's gradient comes in another memory layout than its bucket: DDP copies it
        # and says so on every step; the copy is right, the line is noise
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        # broadcasts rank 0's weights; a path without data (the faces of an audio-only corpus, a
        # modality dropped for a whole batch) gives no gradient, which DDP must be told to expect
        net = DistributedDataParallel(model, find_unused_parameters=True)
        torch.manual_seed(tcfg.seed + dist.rank)  # each rank its own dropout
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_clips) / tcfg.batch_size)
    total = steps_per_epoch * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps_per_epoch * tcfg.warmup_epochs, total))
    corpus_has_video = any(c.video is not None for c in train_clips)
    labels_all = torch.tensor([c.label for c in train_clips])
    log = _EpochLog(console, epochs)

    best: tuple[float, int, dict[str, Any] | None, dict[str, torch.Tensor]] | None = None
    history: list[dict[str, Any]] = []
    with _progress(console) as bar:
        task = bar.add_task("training", total=total, info="")
        for epoch in range(1, epochs + 1):
            model.train()
            t_epoch = time.perf_counter()
            order = epoch_draws(train_clips, tcfg.balanced, order_rng)
            losses = []
            for first in range(0, len(order), tcfg.batch_size):
                idx = order[first : first + tcfg.batch_size]
                if dist.world > 1:
                    if len(idx) < dist.world:  # every rank needs a share, or the gradient exchange waits forever
                        continue
                    idx = idx[dist.rank :: dist.world]
                windows = [_train_window(train_clips[i], store, cfg, tcfg, aug_rng) for i in idx]
                collated = TensorBatch.of(collate(windows, cfg, force_video=corpus_has_video))
                batch = drop_modalities(collated, tcfg.modality_dropout, aug_rng)
                targets: torch.Tensor = labels_all[idx]
                if tcfg.mixup_alpha > 0:
                    one_hot = F.one_hot(targets, cfg.num_classes).float()
                    batch, targets = mixup(batch, one_hot, tcfg.mixup_alpha, aug_rng)
                outputs = net(batch.audio, batch.video, batch.present)
                loss = loss_fn(outputs, targets, batch.present, tcfg)
                if teachers:
                    soft = teacher_targets(teachers, batch, tcfg.distil_temperature)
                    w = tcfg.distil_weight
                    loss = (1 - w) * loss + w * distil_loss(outputs, soft, batch.present, tcfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                bar.update(task, advance=1, info=f"epoch {epoch}/{epochs} loss {np.mean(losses):.3f}")
            row: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": sched.get_last_lr()[0]}
            val = None
            if val_clips and dist.main:
                preds = predict_clips(model, val_clips, store, tcfg.eval_hop_seconds)
                val = {k: s.to_dict() for k, s in preds.scores().items()}
                by_corpus = corpus_scores(preds, val_clips)
                if len(by_corpus) > 1:
                    val["per_corpus"] = {k: s.to_dict() for k, s in by_corpus.items()}
                    row["val_accuracy_per_corpus"] = {k: s.accuracy for k, s in by_corpus.items()}
                row |= {"val_accuracy": val["fused"]["accuracy"], "val_macro_f1": val["fused"]["macro_f1"]}
                bar.update(
                    task,
                    info=f"epoch {epoch}/{epochs} loss {row['loss']:.3f} "
                    f"val acc {row['val_accuracy']:.1%} F1 {row['val_macro_f1']:.3f}",
                )
            row["seconds"] = round(time.perf_counter() - t_epoch, 1)
            log.epoch(row)
            history.append(row)
            metric = row.get("val_macro_f1", float(epoch))
            if best is None or metric > best[0]:
                best = (metric, epoch, val, copy.deepcopy(model.state_dict()))

    if not dist.main:
        return None
    assert best is not None
    _, best_epoch, best_val, state = best
    model.load_state_dict(state)
    reference = _audio_reference(model, [*train_clips, *val_clips], store, tcfg, console)
    seconds = time.perf_counter() - t0
    modalities = trained_modalities(train_clips)
    summary = {
        "edgefusion_version": __version__,
        "data": data_name,
        "train_actors": speaker_names(train_clips),
        "val_actors": speaker_names(val_clips),
        "train_clips": len(train_clips),
        "val_clips": len(val_clips),
        "modalities": modalities,
        "train_clips_per_corpus": dict(sorted(Counter(c.corpus for c in train_clips).items())),
        "epochs": epochs,
        "best_epoch": best_epoch,
        "val": best_val,
        "teachers": len(teachers),
        "processes": dist.world,
        "seconds": round(seconds, 1),
        "train_config": asdict(tcfg),
        "model_config": cfg.to_dict(),
        "history": history,
    }
    save_checkpoint(
        out,
        model,
        extra={"train": {k: summary[k] for k in ("data", "train_actors", "val_actors", "best_epoch", "seconds")}},
        reference=reference,
        modalities=modalities,
    )
    summary_path = out.with_suffix(".json")
    write_text_atomic(summary_path, json.dumps(summary, indent=2))
    return TrainResult(out, summary_path, best_epoch, best_val, seconds, history)


class _EpochLog:
    """One plain line per epoch (loss, validation figures, seconds) when the console is not a
    terminal, so a log file shows progress; a terminal has the progress bar instead."""

    def __init__(self, console: Console, epochs: int) -> None:
        self.console, self.epochs = console, epochs

    def epoch(self, row: dict[str, Any]) -> None:
        if self.console.is_terminal:
            return
        line = f"epoch {row['epoch']}/{self.epochs} loss {row['loss']:.3f}"
        if "val_accuracy" in row:
            line += f" val acc {row['val_accuracy']:.1%} F1 {row['val_macro_f1']:.3f}"
            per = row.get("val_accuracy_per_corpus", {})
            if per:
                line += " (" + ", ".join(f"{k} {v:.1%}" for k, v in per.items()) + ")"
        self.console.print(f"{line} {row['seconds']:.0f} s")


def _audio_reference(
    model: EmotionNet, clips: Sequence[Clip], store: ClipStore, tcfg: TrainConfig, console: Console
) -> np.ndarray | None:
    """The mean audio embedding over every scoring window of ``clips`` (training and validation
    speakers alike): the point speaker adaptation centres new speakers on. None without audio."""
    with_audio = [c for c in clips if c.audio is not None]
    if not with_audio:
        return None
    with _progress(console) as bar:
        task = bar.add_task("audio reference", total=len(with_audio), info="for speaker adaptation")
        preds = predict_clips(model, with_audio, store, tcfg.eval_hop_seconds, progress=lambda n: bar.advance(task, n))
    return training_reference(preds)


def _train_window(
    clip: Clip, store: ClipStore, cfg: ModelConfig, tcfg: TrainConfig, rng: np.random.Generator
) -> Window:
    """A random window of ``clip``, at a random speed within ``1 +- tcfg.speed_perturb``."""
    speed = 1.0 + float(rng.uniform(-tcfg.speed_perturb, tcfg.speed_perturb)) if tcfg.speed_perturb > 0 else 1.0
    return random_window(store.audio(clip), store.faces(clip), cfg, rng, speed)


def _progress(console: Console) -> Progress:
    """A progress bar on a terminal; nothing elsewhere (a log gets ``_EpochLog``'s lines)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
