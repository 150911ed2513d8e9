"""The shared-encoder audio-visual emotion network, in one file.

Data flow (shapes for the default ``ModelConfig``)::

    audio   float32 [B, 32000] --LogMel--> [B, 1, 64, 198] --standardise--> audio stem --> [B, 32, 32, 99] --.
    video   uint8 [B, 4, 112, 112, 3] --to float--> [B*4, 3, 112, 112] --video stem--> [B*4, 32, 56, 56] ---+
                                                                                                          |
        ONE shared trunk (the same weights) encodes both stems' outputs, each at its own size,
        global-average-pooled and projected -> audio token [B, 128], video tokens [B, 4, 128]
        (+ modality and time embeddings)
        -> attention fusion from a learned query, keys masked by ``present`` -> ``logits`` [B, 6]
        -> per-modality heads on the un-fused embeddings -> ``audio_logits``, ``video_logits`` [B, 6]

The spectrogram enters the trunk at its own resolution (``spec_image="native"``): n_mels bands
by the window's frames. Models of edgefusion 0.2 resized it to the faces' square
(``spec_image="resize"``), which let both modalities share one batched trunk call; they still load
and run that way.

``present`` float32 [B, 2] is 1 where audio / video is live; a masked modality's tokens get zero
attention weight, so whatever its input holds cannot change ``logits``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from edgefusion.config import ModelConfig
from edgefusion.model.frontend import LogMel

# uint8 BGR -> roughly zero-mean, unit-variance float
PIXEL_MEAN = 127.5
PIXEL_STD = 64.0
MASK_BIAS = 1e4  # added as -MASK_BIAS to attention logits of absent tokens (fits float16)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride), 1x1 project; residual when shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.body = nn.Sequential(
            conv_bn(c_in, hidden, 1),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, c_out, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class SharedEncoder(nn.Module):
    """Per-modality stems, then one trunk whose weights encode spectrograms and faces alike.

    ``encode(spec [Na, 1, F, T], faces [Nv, 3, H, W]) -> ([Na, D], [Nv, D])``: one trunk call
    when both stems give the same size (a resized spectrogram), else one call per modality
    through the same weights.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.audio_stem = conv_bn(1, cfg.stem_channels, 3, stride=2)
        self.video_stem = conv_bn(3, cfg.stem_channels, 3, stride=2)
        layers: list[nn.Module] = []
        c = cfg.stem_channels
        for c_out, stride in cfg.blocks:
            layers.append(InvertedResidual(c, c_out, stride, cfg.expansion))
            c = c_out
        self.trunk = nn.Sequential(*layers)
        self.project = nn.Linear(c, cfg.embed_dim)

    def encode(self, spec: torch.Tensor, faces: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        audio = self.audio_stem(spec)
        if faces is None:
            return self.pool(audio), None
        video = self.video_stem(faces)
        if audio.shape[2:] != video.shape[2:]:
            return self.pool(audio), self.pool(video)
        emb = self.pool(torch.cat([audio, video], dim=0))
        return emb[: spec.shape[0]], emb[spec.shape[0] :]

    def pool(self, stem: torch.Tensor) -> torch.Tensor:
        """Stem output [N, C, H, W] -> trunk -> global average pool -> projected embedding [N, D]."""
        return self.project(self.trunk(stem).mean(dim=(2, 3)))


class AttentionFusion(nn.Module):
    """One pre-norm transformer block over [query, audio, video_1..T]; the query's output is read.

    Absent tokens are masked out of every key, so they never reach the query.
    """

    def __init__(self, dim: int, heads: int, frames: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.modality = nn.Parameter(torch.zeros(2, dim))  # audio, video
        self.time = nn.Parameter(torch.zeros(frames, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)
        for p in (self.query, self.modality, self.time):
            nn.init.normal_(p, std=0.02)

    def forward(self, audio: torch.Tensor, video: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """audio [B, D], video [B, T, D], present [B, 2] -> fused [B, D]."""
        b, t, d = video.shape
        tokens = torch.cat(
            [
                self.query.expand(b, 1, d),
                (audio + self.modality[0]).unsqueeze(1),
                video + self.modality[1] + self.time[:t],
            ],
            dim=1,
        )  # [B, 1 + 1 + T, D]
        keep = torch.cat([torch.ones_like(present[:, :1]), present[:, :1], present[:, 1:2].expand(b, t)], dim=1)
        bias = ((keep - 1.0) * MASK_BIAS)[:, None, None, :]  # [B, 1, 1, N]

        x = self.norm1(tokens)
        q, k, v = self.qkv(x).reshape(b, -1, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + bias, dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(b, -1, d)
        x = tokens + self.drop(self.out(attended))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x[:, 0]


def standardise(db: torch.Tensor, mode: str) -> torch.Tensor:
    """log-mel [..., F, T] -> zero mean, unit deviation per window ("utterance") or per band over time ("band")."""
    axes = (-1,) if mode == "band" else (-2, -1)
    mean = db.mean(dim=axes, keepdim=True)
    std = torch.sqrt(((db - mean) ** 2).mean(dim=axes, keepdim=True) + 1e-5)
    return (db - mean) / std


class SpecAugment(nn.Module):
    """Random time and frequency masks on ``[B, ..., F, T]`` spectrograms; identity unless training."""

    def __init__(self, time_masks: int, time_width: int, freq_masks: int, freq_width: int) -> None:
        super().__init__()
        self.masks = ((-1, time_masks, time_width), (-2, freq_masks, freq_width))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return spec
        b = spec.shape[0]
        keep = torch.ones_like(spec)
        for axis, count, width in self.masks:
            size = spec.shape[axis]
            idx = torch.arange(size, device=spec.device)
            for _ in range(count):
                w = torch.randint(0, width + 1, (b, 1), device=spec.device)
                start = (torch.rand(b, 1, device=spec.device) * (size - w + 1)).long()
                hit = ((idx >= start) & (idx < start + w)).float()  # [B, size]
                shape = [b] + [1] * (spec.dim() - 1)
                shape[axis] = size
                keep = keep * (1 - hit.reshape(shape))
        return spec * keep


def warp(image: torch.Tensor, freq: float, time: float) -> torch.Tensor:
    """Scale each spectrogram image [B, 1, F, T] by a random factor per axis (training augmentation).

    Rows are mel bands from low to high: the frequency scale is anchored at the lowest band, as a
    different vocal-tract length moves formants multiplicatively. Time is scaled about the centre.
    """
    b = image.shape[0]
    fy = 1.0 + (torch.rand(b, device=image.device) * 2 - 1) * freq
    fx = 1.0 + (torch.rand(b, device=image.device) * 2 - 1) * time
    theta = image.new_zeros(b, 2, 3)
    theta[:, 0, 0] = fx
    theta[:, 1, 1] = fy
    theta[:, 1, 2] = fy - 1.0  # keep the low edge (y = -1) in place
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


class EmotionNet(nn.Module):
    """``forward(audio, video, present) -> (logits, audio_logits, video_logits)``; ``deploy`` adds
    the speaker-adaptation input and output of the exported contract.

    ``video`` may be None in eager mode (a corpus without video): the trunk then encodes only
    the spectrograms and video is treated as absent. The exported graph always takes video.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.logmel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.f_min, cfg.f_max, cfg.top_db)
        self.spec_augment = SpecAugment(
            cfg.spec_time_masks, cfg.spec_time_width, cfg.spec_freq_masks, cfg.spec_freq_width
        )
        self.encoder = SharedEncoder(cfg)
        self.fusion = AttentionFusion(cfg.embed_dim, cfg.heads, cfg.frames, cfg.dropout)
        self.head = self._head(cfg)
        self.audio_head = self._head(cfg)
        self.video_head = self._head(cfg)

    @staticmethod
    def _head(cfg: ModelConfig) -> nn.Sequential:
        return nn.Sequential(
            nn.LayerNorm(cfg.embed_dim), nn.Dropout(cfg.dropout), nn.Linear(cfg.embed_dim, cfg.num_classes)
        )

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """float32 PCM [B, S] -> standardised log-mel image [B, 1, n_mels, frames] ("native"), or
        [B, 1, frame_size, frame_size] ("resize")."""
        image = self.spec_augment(standardise(self.logmel(audio.float()).unsqueeze(1), self.cfg.spec_norm))
        if self.cfg.spec_image == "resize":
            size = self.cfg.frame_size
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
        if self.training and (self.cfg.freq_warp > 0 or self.cfg.time_warp > 0):
            image = warp(image, self.cfg.freq_warp, self.cfg.time_warp)
        return image

    def faces(self, video: torch.Tensor) -> torch.Tensor:
        """uint8 BGR [B, T, H, W, 3] -> normalised float [B*T, 3, H, W]."""
        b, t, h, w, c = video.shape
        x = video.reshape(b * t, h, w, c).permute(0, 3, 1, 2).float()
        return (x - PIXEL_MEAN) / PIXEL_STD

    def forward(
        self, audio: torch.Tensor, video: torch.Tensor | None, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.classify(*self.embed(audio, video), present)

    def embed(self, audio: torch.Tensor, video: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The shared encoder's embeddings: audio [B, D], video [B*T, D] (None without video)."""
        return self.encoder.encode(self.spectrogram(audio), None if video is None else self.faces(video))

    def deploy(
        self, audio: torch.Tensor, video: torch.Tensor | None, present: torch.Tensor, audio_shift: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The exported graph: ``forward`` with speaker adaptation, -> (logits, audio_logits,
        video_logits, audio_embedding).

        ``audio_shift`` [B, D] is added to the audio embedding before the fusion and the audio
        head (zeros: ``forward``'s outputs); ``audio_embedding`` [B, D] is the embedding before
        the shift, which a caller averages over a speaker to centre that speaker (see
        ``edgefusion.adaptation``).
        """
        audio_emb, video_emb = self.embed(audio, video)
        return (*self.classify(audio_emb + audio_shift, video_emb, present), audio_emb)

    def classify(
        self, audio_emb: torch.Tensor, video_emb: torch.Tensor | None, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoder's embeddings (audio [B, D], video [B*T, D] or None) -> the three heads' logits."""
        b, t, d = audio_emb.shape[0], self.cfg.frames, self.cfg.embed_dim
        if video_emb is None:
            video_tokens = audio_emb.new_zeros(b, t, d)
            present = present * present.new_tensor([1.0, 0.0])
        else:
            video_tokens = video_emb.reshape(b, t, d)
        logits = self.head(self.fusion(audio_emb, video_tokens, present))
        return logits, self.audio_head(audio_emb), self.video_head(video_tokens.mean(dim=1))
