"""Scoring whole clips.

A clip is cut into windows every ``hop`` seconds (one zero-padded window when it is shorter
than a window); the softmax probabilities of its windows are averaged and the clip is
labelled with the most probable class. Fused scores use every modality the clip has; the
per-modality heads are scored on the clips that have that modality.

Where the model gives its audio embedding, the per-clip sums of it come back too (the input of
speaker adaptation, ``edgefusion.adaptation``), and a per-clip ``shifts`` centres each clip.

numpy only at import: scoring an artifact (``eval``, ``calibrate``'s and ``build``'s accuracy
gates) runs on a device that has ONNX Runtime or TensorRT and no torch. torch is imported only
to score a PyTorch module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgefusion.adaptation import leave_one_out_shifts
from edgefusion.artifact.contract import EMBEDDING_OUTPUT, SHIFT_INPUT
from edgefusion.artifact.contract import OUTPUTS as RUNNER_OUTPUTS
from edgefusion.config import SCORING_HOP, ModelConfig
from edgefusion.data.corpus import Clip
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import Window, clip_seconds, cut_window, scoring_starts
from edgefusion.labels import CLASSES, NUM_CLASSES
from edgefusion.metrics import NO_DECISION, Scores, score, softmax
from edgefusion.runtime.runner import Runner
from edgefusion.runtime.vad import MIN_SHARE, Vad, speech_shares

if TYPE_CHECKING:
    from edgefusion.model.network import EmotionNet

OUTPUTS = ("fused", "audio", "video")


@dataclass
class Batch:
    audio: np.ndarray  # float32 [B, S]
    video: np.ndarray | None  # uint8 [B, T, H, W, 3]; None when no window has video
    present: np.ndarray  # float32 [B, 2]

    def feed(self) -> dict[str, np.ndarray]:
        """A runner's inputs; without ``video`` when no window has one (``Runner.infer`` allows it)."""
        feed = {"audio": self.audio, "present": self.present}
        return feed if self.video is None else {**feed, "video": self.video}


def collate(windows: Sequence[Window], cfg: ModelConfig, force_video: bool = False) -> Batch:
    """Stack windows into model inputs; absent modalities are zeros with ``present`` 0."""
    b = len(windows)
    audio = np.zeros((b, cfg.window_samples), dtype=np.float32)
    present = np.zeros((b, 2), dtype=np.float32)
    any_video = force_video or any(w.video is not None for w in windows)
    video = np.zeros((b, cfg.frames, cfg.frame_size, cfg.frame_size, 3), dtype=np.uint8) if any_video else None
    for i, w in enumerate(windows):
        if w.audio is not None:
            audio[i] = w.audio
            present[i, 0] = 1.0
        if w.video is not None and video is not None:
            video[i] = w.video
            present[i, 1] = 1.0
    return Batch(audio, video, present)


@dataclass
class ClipPredictions:
    labels: np.ndarray  # int [N]
    probs: dict[str, np.ndarray]  # output name -> float [N, C]
    has: dict[str, np.ndarray]  # "audio" / "video" -> bool [N]
    # per clip: the sum of its windows' audio embeddings [N, D] and how many windows had audio [N];
    # None where the model gives no embedding (an artifact exported before speaker adaptation)
    embedding_sums: np.ndarray | None = None
    embedding_counts: np.ndarray | None = None
    decided: np.ndarray | None = None  # bool [N]: the clip had a window to decide on (None: all had)

    def predictions(self, name: str = "fused") -> np.ndarray:
        """int [N]: each clip's predicted class by output ``name``, ``NO_DECISION`` where it had none."""
        preds = self.probs[name].argmax(1)
        return preds if self.decided is None else np.where(self.decided, preds, NO_DECISION)

    def scores(self) -> dict[str, Scores]:
        out = {"fused": score(self.labels, self.predictions())}
        for name in ("audio", "video"):
            mask = self.has[name]
            if mask.any():
                out[name] = score(self.labels[mask], self.predictions(name)[mask])
        return out


def corpus_scores(preds: ClipPredictions, clips: Sequence[Clip]) -> dict[str, Scores]:
    """The fused output scored on each corpus's clips alone, by corpus name in sorted order."""
    corpora = np.array([c.corpus for c in clips])
    fused = preds.predictions()
    return {name: score(preds.labels[corpora == name], fused[corpora == name]) for name in sorted(set(corpora))}


BatchFn = Callable[[Sequence[Window], np.ndarray | None], dict[str, np.ndarray]]


def _batch_fn(model: EmotionNet | Runner, cfg: ModelConfig) -> BatchFn:
    """(windows, shifts [B, D] or None) -> the runner's outputs as numpy, from a module or any runner."""
    if not isinstance(model, Runner):
        import torch

        def run_module(windows: Sequence[Window], shift: np.ndarray | None) -> dict[str, np.ndarray]:
            batch = collate(windows, cfg)
            video = None if batch.video is None else torch.from_numpy(batch.video)
            shift = np.zeros((len(windows), cfg.embed_dim), np.float32) if shift is None else shift
            with torch.no_grad():
                out = model.deploy(
                    torch.from_numpy(batch.audio),
                    video,
                    torch.from_numpy(batch.present),
                    torch.from_numpy(shift.astype(np.float32)),
                )
            return {k: t.numpy() for k, t in zip((*RUNNER_OUTPUTS, EMBEDDING_OUTPUT), out, strict=True)}

        return run_module

    def run_artifact(windows: Sequence[Window], shift: np.ndarray | None) -> dict[str, np.ndarray]:
        feed = collate(windows, cfg).feed()  # no video when no window has a face: runners skip or blank it
        if shift is not None:
            feed[SHIFT_INPUT] = shift.astype(np.float32)
        return model.infer(feed)

    return run_artifact


def predict_clips(
    model: EmotionNet | Runner,
    clips: Sequence[Clip],
    store: ClipStore,
    hop: float = SCORING_HOP,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    shifts: np.ndarray | None = None,
    vad: Vad | None = None,
) -> ClipPredictions:
    """Clip-level probabilities from every output head (window probabilities averaged).

    ``model`` is a module (training) or an active runner of any backend (eval of artifacts).
    ``shifts`` [N, D]: each clip's speaker shift, fed to every window of the clip (None: unadapted).
    Each window is scored as the live runtime would: without the modalities a runner's model was
    not trained on and, with ``vad``, without its audio when the VAD hears too little speech in
    it. A window left with nothing is not scored; a clip with no scored window has no decision.
    """
    is_module = not isinstance(model, Runner)
    cfg = model.cfg if is_module else model.meta.config
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    run = _batch_fn(model, cfg)
    sums = {k: np.zeros((len(clips), NUM_CLASSES)) for k in OUTPUTS}
    counts = np.zeros(len(clips))
    gives_embedding = is_module or model.adaptable
    emb_sums = np.zeros((len(clips), cfg.embed_dim)) if gives_embedding else None
    emb_counts = np.zeros(len(clips)) if gives_embedding else None
    pending: list[tuple[int, Window]] = []

    def flush() -> None:
        rows = [i for i, _ in pending]
        out = run([w for _, w in pending], None if shifts is None else shifts[rows])
        for name, key in zip(OUTPUTS, RUNNER_OUTPUTS, strict=True):
            np.add.at(sums[name], rows, softmax(out[key].astype(np.float64)))
        np.add.at(counts, rows, 1)
        if emb_sums is not None and emb_counts is not None:
            heard = [j for j, (_, w) in enumerate(pending) if w.audio is not None]
            np.add.at(emb_sums, [rows[j] for j in heard], out[EMBEDDING_OUTPUT][heard].astype(np.float64))
            np.add.at(emb_counts, [rows[j] for j in heard], 1)
        pending.clear()

    trained = set(model.trained) if isinstance(model, Runner) else {"audio", "video"}
    has_audio = np.zeros(len(clips), dtype=bool)
    has_video = np.zeros(len(clips), dtype=bool)
    for i, clip in enumerate(clips):
        audio, track = store.audio(clip), store.faces(clip)
        audio = audio if "audio" in trained else None
        track = track if "video" in trained else None
        has_audio[i] = audio is not None
        has_video[i] = track is not None and len(track.crops) > 0
        starts = scoring_starts(clip_seconds(audio, track, cfg.sample_rate), cfg.window_seconds, hop)
        voiced = _voiced(vad, audio, starts, cfg) if vad is not None and audio is not None else None
        for j, start in enumerate(starts):
            window = cut_window(audio, track, start, cfg)
            if voiced is not None and not voiced[j]:
                window.audio = None
            if window.audio is None and window.video is None:
                continue
            pending.append((i, window))
            if len(pending) >= batch_size:
                flush()
        if progress is not None:
            progress(1)
    if pending:
        flush()
    if is_module:
        model.train(was_training)
    probs = {k: v / np.maximum(counts, 1)[:, None] for k, v in sums.items()}
    labels = np.array([c.label for c in clips], dtype=np.int64)
    has = {"audio": has_audio, "video": has_video}
    decided = counts > 0
    return ClipPredictions(labels, probs, has, emb_sums, emb_counts, None if decided.all() else decided)


def _voiced(vad: Vad, audio: np.ndarray, starts: Sequence[float], cfg: ModelConfig) -> np.ndarray:
    """bool [W]: whether the VAD passes each window of the clip starting at ``starts`` (seconds)."""
    window = cfg.window_samples
    samples = np.asarray(audio, dtype=np.float32)
    if len(samples) < window:  # a short clip's one window is padded with silence, as cut_window pads it
        samples = np.pad(samples, (0, window - len(samples)))
    first = np.minimum(np.round(np.asarray(starts) * cfg.sample_rate).astype(np.int64), len(samples) - window)
    return speech_shares(vad, samples, first, window) >= MIN_SHARE[vad.name]


def predict_adapted(
    model: EmotionNet | Runner,
    clips: Sequence[Clip],
    store: ClipStore,
    reference: np.ndarray,
    hop: float = SCORING_HOP,
    progress: Callable[[int], None] | None = None,
    vad: Vad | None = None,
) -> tuple[ClipPredictions, ClipPredictions, np.ndarray]:
    """``(unadapted, adapted, shifts)``: the clips scored as they are, then again with each clip's
    audio embedding centred on its speaker's *other* clips (``leave_one_out_shifts``; no label is
    used and no clip informs its own shift). ``reference``: the training clips' mean embedding."""
    plain = predict_clips(model, clips, store, hop, progress=progress, vad=vad)
    shifts = leave_one_out_shifts(plain, [c.speaker for c in clips], reference)
    return plain, predict_clips(model, clips, store, hop, progress=progress, shifts=shifts, vad=vad), shifts


def plot_confusion(scores: dict[str, Scores], path: str | Path, title: str = "") -> Path:
    """One confusion-matrix panel (row-normalised, counts annotated) per scored output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        cm = np.array(scores[name].confusion, dtype=float)
        rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        for r in range(len(CLASSES)):
            for c in range(len(CLASSES)):
                ax.text(
                    c,
                    r,
                    int(cm[r, c]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if rows[r, c] > 0.5 else "black",
                )
        ax.set_xticks(range(len(CLASSES)), CLASSES)
        ax.set_yticks(range(len(CLASSES)), CLASSES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        s = scores[name]
        ax.set_title(f"{name}: acc {s.accuracy:.1%}, macro-F1 {s.macro_f1:.3f}", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
