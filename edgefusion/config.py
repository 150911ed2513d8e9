"""Settings saved inside every artifact.

``ModelConfig`` holds every hyper-parameter of the network, its signal front end and its
input contract; a checkpoint stores it as a plain dict, so a model can be rebuilt from the
file alone. ``TrainConfig`` is the training recipe; its defaults are the recipe that
``edgefusion train DATA --out m.pt`` runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edgefusion.errors import CheckpointError
from edgefusion.labels import NUM_CLASSES

# Audio front end: 16 kHz mono PCM, 25 ms Hann window, 10 ms hop, 64 mel bands.
SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 64
F_MIN = 50.0
F_MAX = 8_000.0
TOP_DB = 80.0
WINDOW_SECONDS = 2.0
# Scoring a whole clip (eval, the gate, bench --data): a window every SCORING_HOP seconds,
# the windows' probabilities averaged.
SCORING_HOP = 0.5
# A live run's default hop between decisions.
LIVE_HOP = 0.25

# Video: the last T face crops, square, BGR uint8 as OpenCV gives them.
FRAME_SIZE = 112
FRAMES = 4
SPEC_NORMS = ("utterance", "band")
# How the log-mel reaches the shared trunk: "native" as it is, [n_mels, frames] (the trunk is
# convolutional with global pooling, so any size fits), or "resize"d to the faces' frame_size
# square, which compresses time and stretches frequency (edgefusion 0.2's models).
SPEC_IMAGES = ("native", "resize")

# Key, in a checkpoint and in every artifact's metadata, of the mean audio embedding over the
# training clips (D floats): the point speaker adaptation centres a new speaker on. Optional:
# artifacts of models trained before speaker adaptation lack it.
REFERENCE_KEY = "audio_reference"

# Key, in a checkpoint and in every artifact's metadata, of the modalities the model was trained
# on ("audio", "video"): a path that never saw data during training has untrained weights, and
# the runtime and `eval` mask it. Artifacts of models trained before the key existed lack it and
# are taken to know both (MODALITIES).
MODALITIES_KEY = "modalities"
MODALITIES = ("audio", "video")


@dataclass(frozen=True)
class ModelConfig:
    # contract
    num_classes: int = NUM_CLASSES
    sample_rate: int = SAMPLE_RATE
    window_seconds: float = WINDOW_SECONDS
    frames: int = FRAMES
    frame_size: int = FRAME_SIZE
    # log-mel front end
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX
    top_db: float = TOP_DB
    # shared encoder: stem width, then (out_channels, stride) per inverted-residual block
    stem_channels: int = 32
    blocks: tuple[tuple[int, int], ...] = (
        (64, 2),
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
    )
    expansion: int = 4
    embed_dim: int = 128
    # fusion
    heads: int = 4
    dropout: float = 0.1
    # standardisation of each window's log-mel: "utterance" (one mean and deviation over all
    # bands and frames) or "band" (each mel band over time: removes a speaker's spectral tilt)
    spec_norm: str = "utterance"
    # the spectrogram image: "native" [n_mels, frames] or "resize"d to frame_size x frame_size
    spec_image: str = "native"
    # training-time augmentation inside the network (inactive in eval and export)
    spec_time_masks: int = 2
    spec_time_width: int = 12
    spec_freq_masks: int = 2
    spec_freq_width: int = 6
    # random per-sample warp of the spectrogram image (training only): mel axis scaled by
    # 1 +- freq_warp from its low edge (vocal-tract-length perturbation), time axis by 1 +- time_warp
    freq_warp: float = 0.0
    time_warp: float = 0.0

    def __post_init__(self) -> None:
        if self.spec_norm not in SPEC_NORMS:
            raise ValueError(f"spec_norm {self.spec_norm!r}: choose one of {', '.join(SPEC_NORMS)}")
        if self.spec_image not in SPEC_IMAGES:
            raise ValueError(f"spec_image {self.spec_image!r}: choose one of {', '.join(SPEC_IMAGES)}")

    @property
    def window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    @property
    def spec_frames(self) -> int:
        """Log-mel frames per window (no centre padding)."""
        return 1 + (self.window_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["blocks"] = [list(b) for b in self.blocks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown model settings {', '.join(unknown)}")
        d = dict(d)
        # models saved before the setting existed resized their spectrogram to the frame size
        d.setdefault("spec_image", "resize")
        defaults = cls()
        for key, value in d.items():
            if key == "blocks":
                pairs = value if isinstance(value, (list, tuple)) else [None]
                if not all(isinstance(b, (list, tuple)) and len(b) == 2 and all(_is(x, int) for x in b) for b in pairs):
                    raise CheckpointError(f"{source}: blocks is {value!r}, expected [out_channels, stride] pairs")
                d[key] = tuple((int(c), int(s)) for c, s in value)
                continue
            expected = type(getattr(defaults, key))
            if not _is(value, expected):
                raise CheckpointError(
                    f"{source}: model setting {key} is {value!r} ({type(value).__name__}), expected {expected.__name__}"
                )
            d[key] = expected(value)
        try:
            return cls(**d)
        except ValueError as e:
            raise CheckpointError(f"{source}: {e}") from None


def _is(value: Any, expected: type) -> bool:
    """``value`` fits a setting of type ``expected`` (an int fits a float; a bool fits only a bool)."""
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


@dataclass(frozen=True)
class TrainConfig:
    # None: as many epochs as make about ``train_windows`` training windows, within
    # ``epoch_bounds`` (60 on 12 RAVDESS actors, 18 on all three shared corpora)
    epochs: int | None = None
    train_windows: int = 24_000
    epoch_bounds: tuple[int, int] = (10, 60)
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_epochs: int = 3
    label_smoothing: float = 0.1
    seed: int = 0
    # probability that a sample with both modalities loses one of them (each half the time)
    modality_dropout: float = 0.3
    # weight of the per-modality heads' losses next to the fused loss
    aux_weight: float = 0.5
    val_fraction: float = 0.2
    # mixup of whole windows (waveforms and frames) with a Beta(alpha, alpha) weight (0 = off)
    mixup_alpha: float = 0.0
    # speed perturbation: each training window is played back at a random speed in
    # [1 - speed_perturb, 1 + speed_perturb] (pitch, formants and tempo together; 0 = off)
    speed_perturb: float = 0.1
    # each epoch draws its clips with every (corpus, class) cell equally likely, so no corpus or
    # class dominates because it has more clips (False: every clip once per epoch, shuffled)
    balanced: bool = True
    # distillation (teachers given): weight of the teachers' averaged soft targets against the
    # labels, and the temperature both are softened at
    distil_weight: float = 0.7
    distil_temperature: float = 2.0
    # scoring whole clips: windows every hop_seconds, probabilities averaged
    eval_hop_seconds: float = SCORING_HOP

    def epochs_for(self, clips: int) -> int:
        """The epoch count for ``clips`` training clips: ``epochs`` if set, else about
        ``train_windows`` windows in all, within ``epoch_bounds``."""
        if self.epochs is not None:
            return self.epochs
        low, high = self.epoch_bounds
        return int(min(high, max(low, round(self.train_windows / max(clips, 1)))))
