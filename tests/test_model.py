"""The network: the tensor contract, one shared encoder, present-masking, size."""

from __future__ import annotations

import pytest
import torch

from edgefusion.config import ModelConfig
from edgefusion.model.network import EmotionNet

CFG = ModelConfig()


@pytest.fixture(scope="module")
def model() -> EmotionNet:
    torch.manual_seed(0)
    return EmotionNet(CFG).eval()


def inputs(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    audio = 0.1 * torch.randn(b, CFG.window_samples, generator=g)
    video = torch.randint(0, 256, (b, CFG.frames, CFG.frame_size, CFG.frame_size, 3), dtype=torch.uint8, generator=g)
    return audio, video, torch.ones(b, 2)


def test_contract_shapes_and_dtypes(model: EmotionNet) -> None:
    audio, video, present = inputs(3)
    with torch.no_grad():
        outputs = model(audio, video, present)
    assert len(outputs) == 3
    for out in outputs:
        assert out.shape == (3, CFG.num_classes)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()


def test_one_trunk_encodes_both_modalities() -> None:
    torch.manual_seed(0)
    # eval mode freezes BatchNorm statistics: in training mode the batch statistics of the shared
    # trunk mix spectrograms and faces, which would route every gradient to both stems
    model = EmotionNet(CFG).eval()
    trunk = list(model.encoder.trunk.parameters())
    trunk_ids = {id(p) for p in trunk}
    # the trunk's weights exist once: no other module owns a copy
    others = [p for n, p in model.named_parameters() if not n.startswith("encoder.trunk.")]
    assert trunk_ids.isdisjoint({id(p) for p in others})
    assert sum(p.numel() for p in trunk) > 0.5 * sum(p.numel() for p in model.encoder.parameters())

    audio, video, _ = inputs(2)
    for present, name in ((torch.tensor([[1.0, 0.0]] * 2), "audio"), (torch.tensor([[0.0, 1.0]] * 2), "video")):
        model.zero_grad()
        _, audio_logits, video_logits = model(audio, video, present)
        (audio_logits if name == "audio" else video_logits).sum().backward()
        grads = [p.grad for p in trunk]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), f"{name} loss did not reach the shared trunk"
        stem_a, stem_v = model.encoder.audio_stem[0].weight.grad, model.encoder.video_stem[0].weight.grad
        if name == "audio":
            assert stem_a.abs().sum() > 0 and (stem_v is None or stem_v.abs().sum() == 0)
        else:
            assert stem_v.abs().sum() > 0 and (stem_a is None or stem_a.abs().sum() == 0)


def test_masked_modality_cannot_change_fused_output(model: EmotionNet) -> None:
    audio, video, _ = inputs(2, seed=1)
    audio2, video2, _ = inputs(2, seed=2)
    audio_only = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    video_only = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    both = torch.ones(2, 2)
    with torch.no_grad():
        # masked video: any video (even garbage) gives bit-identical fused logits
        assert torch.equal(model(audio, video, audio_only)[0], model(audio, video2, audio_only)[0])
        assert torch.equal(model(audio, video, audio_only)[0], model(audio, torch.zeros_like(video), audio_only)[0])
        # masked audio likewise
        assert torch.equal(model(audio, video, video_only)[0], model(audio2, video, video_only)[0])
        # and when present, the modality does matter (the test above could not pass vacuously)
        assert not torch.allclose(model(audio, video, both)[0], model(audio, video2, both)[0])
        assert not torch.allclose(model(audio, video, both)[0], model(audio2, video, both)[0])
        # nothing present: still finite
        assert torch.isfinite(model(audio, video, torch.zeros(2, 2))[0]).all()


def test_video_none_equals_masked_video(model: EmotionNet) -> None:
    audio, video, _ = inputs(2)
    audio_only = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    with torch.no_grad():
        a = model(audio, None, torch.ones(2, 2))[0]
        b = model(audio, video, audio_only)[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_batch_items_are_independent(model: EmotionNet) -> None:
    audio, video, present = inputs(2)
    with torch.no_grad():
        pair = model(audio, video, present)[0]
        single = model(audio[:1], video[:1], present[:1])[0]
    torch.testing.assert_close(pair[:1], single, rtol=1e-4, atol=1e-5)


def test_fits_a_jetson_budget(model: EmotionNet) -> None:
    params = sum(p.numel() for p in model.parameters())
    assert params * 4 <= 5e6, f"{params} float32 parameters exceed 5 MB"


def test_spec_augment_only_in_training() -> None:
    torch.manual_seed(0)
    model = EmotionNet(CFG)
    audio = inputs(1)[0]
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.spectrogram(audio), model.spectrogram(audio))
        model.train()
        assert not torch.equal(model.spectrogram(audio), model.spectrogram(audio))


def test_standardise_per_window_or_per_band() -> None:
    from edgefusion.model.network import standardise

    db = torch.randn(2, 8, 50) * 5 + torch.linspace(-40, 0, 8)[None, :, None]  # a tilt across bands
    whole = standardise(db, "utterance")
    torch.testing.assert_close(whole.mean(dim=(1, 2)), torch.zeros(2), atol=1e-4, rtol=0)
    assert whole.mean(dim=2).std() > 0.5  # the tilt survives a per-window standardisation
    band = standardise(db, "band")
    torch.testing.assert_close(band.mean(dim=2), torch.zeros(2, 8), atol=1e-4, rtol=0)
    torch.testing.assert_close(band.std(dim=2, unbiased=False), torch.ones(2, 8), atol=1e-3, rtol=0)
    # a fixed gain per band (a speaker's spectral tilt, a microphone's response) is removed
    torch.testing.assert_close(standardise(db + torch.randn(1, 8, 1) * 10, "band"), band, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="spec_norm"):
        ModelConfig(spec_norm="cepstral")


def test_warp_scales_mel_from_its_low_edge_and_time_about_the_centre() -> None:
    from edgefusion.model.network import warp

    torch.manual_seed(0)
    f, t = 16, 20
    rows = torch.arange(f, dtype=torch.float32)[:, None].expand(f, t)
    cols = torch.arange(t, dtype=torch.float32)[None, :].expand(f, t)
    image = torch.stack([rows, cols])[:, None]  # [2, 1, F, T]: a ramp along each axis
    # no warp is the identity
    torch.testing.assert_close(warp(image, 0.0, 0.0), image, atol=1e-4, rtol=0)
    # mel only: output row i reads input row fy * (i + 0.5) - 0.5 (pixel centres), one fy per sample
    out = warp(image[:1].expand(8, 1, f, t), 0.2, 0.0)
    # rows 1 to F/2 read inside the image for any fy in [0.8, 1.2] (row 0 clamps at the edge when fy < 1)
    inner = out[:, 0, 1 : f // 2, :]
    fy = (inner + 0.5) / (torch.arange(1, f // 2)[:, None] + 0.5)
    assert ((fy - fy[:, :1, :1]).abs() < 1e-4).all()  # one factor per sample
    factors = fy[:, 0, 0]
    assert ((factors >= 0.8 - 1e-4) & (factors <= 1.2 + 1e-4)).all() and factors.std() > 0.01
    # time only: about the centre, so the middle column stays where it was
    out = warp(image[1:].expand(8, 1, f, t), 0.0, 0.2)
    centre = (out[:, 0, :, t // 2 - 1] + out[:, 0, :, t // 2]) / 2
    torch.testing.assert_close(centre, torch.full_like(centre, (t - 1) / 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, 0, 1:], out[:, 0, :1].expand(8, f - 1, t))  # rows untouched


def test_warp_only_in_training() -> None:
    torch.manual_seed(0)
    model = EmotionNet(ModelConfig(freq_warp=0.1, time_warp=0.1, spec_time_masks=0, spec_freq_masks=0))
    plain = EmotionNet(CFG)
    audio = inputs(1)[0]
    with torch.no_grad():
        model.eval()
        plain.eval()
        torch.testing.assert_close(model.spectrogram(audio), plain.spectrogram(audio))
        model.train()
        assert not torch.allclose(model.spectrogram(audio), plain.spectrogram(audio), atol=1e-3)
