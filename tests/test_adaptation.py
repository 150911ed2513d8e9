"""Speaker adaptation through the contract: the shift input, the embedding output, eval and run."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgefusion.adaptation import (
    AdaptationError,
    RunningCentre,
    leave_one_out_shifts,
    reference_of,
    training_reference,
)
from edgefusion.artifact.contract import EMBEDDING_OUTPUT, SHIFT_INPUT, contract
from edgefusion.artifact.metadata import new_meta, save_onnx, set_metadata
from edgefusion.config import REFERENCE_KEY, ModelConfig
from edgefusion.data.corpus import scan_corpus
from edgefusion.data.store import ClipStore
from edgefusion.data.windows import cut_window, scoring_starts
from edgefusion.errors import CheckpointError
from edgefusion.evaluate import ClipPredictions, predict_clips
from edgefusion.labels import CLASSES
from edgefusion.model.checkpoint import load_checkpoint, save_checkpoint
from edgefusion.model.network import EmotionNet
from edgefusion.runtime.runner import RunnerError, open_runner
from tests.conftest import cli, one_line_error, tone, write_wav

D = ModelConfig().embed_dim


def seeded_model() -> EmotionNet:
    torch.manual_seed(0)
    return EmotionNet(ModelConfig()).eval()


def inputs(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    audio = 0.1 * torch.randn(batch, ModelConfig().window_samples, generator=g)
    video = torch.randint(0, 256, (batch, 4, 112, 112, 3), dtype=torch.uint8, generator=g)
    return audio, video, torch.ones(batch, 2), 0.5 * torch.randn(batch, D, generator=g)


# -- the network -------------------------------------------------------------------------------


def test_deploy_unshifted_is_forward_and_gives_the_embedding() -> None:
    model = seeded_model()
    audio, video, present, shift = inputs()
    with torch.no_grad():
        plain = model(audio, video, present)
        *heads, embedding = model.deploy(audio, video, present, torch.zeros_like(shift))
        direct = model.encoder.encode(model.spectrogram(audio), model.faces(video))[0]
    for a, b in zip(plain, heads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(embedding, direct, rtol=0, atol=0)


def test_a_shift_moves_the_voice_only() -> None:
    model = seeded_model()
    audio, video, present, shift = inputs()
    with torch.no_grad():
        base = model.deploy(audio, video, present, torch.zeros_like(shift))
        moved = model.deploy(audio, video, present, shift)
        # with audio masked out, the fused output does not hear the shift either
        silent = present * torch.tensor([0.0, 1.0])
        masked = model.deploy(audio, video, silent, torch.zeros_like(shift)), model.deploy(audio, video, silent, shift)
    assert (moved[0] - base[0]).abs().max() > 1e-3  # fused
    assert (moved[1] - base[1]).abs().max() > 1e-3  # audio head
    torch.testing.assert_close(moved[2], base[2], rtol=0, atol=0)  # video head
    torch.testing.assert_close(moved[3], base[3], rtol=0, atol=0)  # the embedding is taken before the shift
    torch.testing.assert_close(masked[0][0], masked[1][0], rtol=0, atol=1e-6)


# -- the arithmetic ----------------------------------------------------------------------------


def predictions(sums: list[list[float]], counts: list[int]) -> ClipPredictions:
    n = len(counts)
    return ClipPredictions(
        labels=np.zeros(n, dtype=np.int64),
        probs={},
        has={},
        embedding_sums=np.array(sums, dtype=np.float64),
        embedding_counts=np.array(counts, dtype=np.float64),
    )


def test_leave_one_out_centres_on_the_speakers_other_windows() -> None:
    # speaker a: clips of 1, 2 and 3 windows; speaker b: one clip
    preds = predictions([[1.0, 0.0], [4.0, 2.0], [3.0, 9.0], [7.0, 7.0]], [1, 2, 3, 2])
    reference = np.array([10.0, 20.0])
    shifts = leave_one_out_shifts(preds, ["a", "a", "a", "b"], reference)
    np.testing.assert_allclose(shifts[0], reference - np.array([7.0, 11.0]) / 5)
    np.testing.assert_allclose(shifts[1], reference - np.array([4.0, 9.0]) / 4)
    np.testing.assert_allclose(shifts[2], reference - np.array([5.0, 2.0]) / 3)
    np.testing.assert_array_equal(shifts[3], [0.0, 0.0])  # nobody else to centre on: unshifted
    np.testing.assert_allclose(training_reference(preds), np.array([15.0, 18.0]) / 8)


def test_running_centre_waits_then_centres_on_the_mean() -> None:
    reference = np.array([1.0, 2.0, 3.0])
    centre = RunningCentre(reference, min_windows=3)
    for i, e in enumerate(([1.0, 1.0, 1.0], [3.0, 1.0, 0.0], [2.0, 4.0, 2.0])):
        assert not centre.ready and not centre.shift().any(), i
        centre.add(np.array(e))
    assert centre.ready and centre.shift().dtype == np.float32
    np.testing.assert_allclose(centre.shift(), reference - np.array([2.0, 2.0, 1.0]))


# -- checkpoints and artifacts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tones in the CREMA-D layout: 3 actors (each its own base pitch) x 6 emotions x 2 sentences."""
    root = tmp_path_factory.mktemp("adapt") / "cremad"
    for a, actor in enumerate(("1001", "1002", "1003")):
        for e, emo in enumerate(("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")):
            for s, sent in enumerate(("DFA", "IEO")):
                wav = tone(1.5 + 0.6 * s, (120 + 70 * a) * (1 + 0.12 * e), seed=10 * a + e)
                write_wav(root / "AudioWAV" / f"{actor}_{sent}_{emo}_XX.wav", wav)
    return root


@pytest.fixture(scope="module")
def adapted_model(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded network whose reference is the mean embedding of actor 1001's clips, as train computes it."""
    model = seeded_model()
    clips = [c for c in scan_corpus(corpus) if c.actor == "1001"]
    reference = training_reference(predict_clips(model, clips, ClipStore(model.cfg)))
    return save_checkpoint(tmp_path_factory.mktemp("adapt-ckpt") / "model.pt", model, reference=reference)


def test_the_reference_travels_from_checkpoint_to_onnx(adapted_model: Path, tmp_path: Path) -> None:
    _, meta = load_checkpoint(adapted_model)
    assert len(meta[REFERENCE_KEY]) == D
    out = tmp_path / "m.onnx"
    cli("export", adapted_model, "-o", out)
    graph = onnx.load(str(out))
    assert [i.name for i in graph.graph.input] == ["audio", "video", "present", SHIFT_INPUT]
    assert [o.name for o in graph.graph.output][-1] == EMBEDDING_OUTPUT
    with open_runner(out) as runner:
        assert runner.adaptable
        np.testing.assert_allclose(reference_of(runner.meta.extra, out), meta[REFERENCE_KEY])


def test_a_reference_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", seeded_model(), reference=[0.0] * (D - 1))
    with pytest.raises(CheckpointError, match=f"audio reference of {D - 1} values, the model's embedding has {D}"):
        load_checkpoint(path)


def test_onnx_runtime_follows_the_shift_as_pytorch_does(adapted_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    cli("export", adapted_model, "-o", out, "--dynamic-batch")
    audio, video, present, shift = (t.numpy() for t in inputs(batch=4))
    feed = {"audio": audio, "video": video, "present": present}
    with open_runner(adapted_model) as torch_runner, open_runner(out) as ort_runner:
        for extra in ({}, {SHIFT_INPUT: np.zeros_like(shift)}, {SHIFT_INPUT: shift}):
            want, got = torch_runner.infer({**feed, **extra}), ort_runner.infer({**feed, **extra})
            for name in want:
                np.testing.assert_allclose(got[name], want[name], atol=2e-4, err_msg=f"{name} with {list(extra)}")
        unshifted = ort_runner.infer(feed)
        shifted = ort_runner.infer({**feed, SHIFT_INPUT: shift})
    assert np.abs(shifted["audio_logits"] - unshifted["audio_logits"]).max() > 1e-3


@pytest.fixture(scope="module")
def old_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX with the contract of before speaker adaptation (three inputs, three outputs)."""
    model = seeded_model()
    buffer = io.BytesIO()
    audio, video, present, _ = inputs(batch=1)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (audio, video, present),
            buffer,
            input_names=["audio", "video", "present"],
            output_names=["logits", "audio_logits", "video_logits"],
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    old = [t for t in contract(model.cfg, 1) if t["name"] not in (SHIFT_INPUT, EMBEDDING_OUTPUT)]
    set_metadata(graph, new_meta(model.cfg, list(CLASSES), old, "fp32"))
    return save_onnx(graph, tmp_path_factory.mktemp("old") / "old.onnx")


def test_an_artifact_from_before_adaptation_still_runs_unadapted(old_artifact: Path, corpus: Path) -> None:
    audio, video, present, shift = (t.numpy() for t in inputs(batch=1))
    feed = {"audio": audio, "video": video, "present": present}
    with open_runner(old_artifact) as runner:
        assert not runner.adaptable and runner.outputs == ("logits", "audio_logits", "video_logits")
        out = runner.infer(feed)
        with torch.no_grad():
            want = seeded_model()(*(torch.from_numpy(x) for x in (audio, video, present)))
        np.testing.assert_allclose(out["logits"], want[0].numpy(), atol=1e-4)
        with pytest.raises(RunnerError, match="takes no audio_shift"):
            runner.infer({**feed, SHIFT_INPUT: shift})
    one_line_error(cli("eval", old_artifact, corpus, "--adapt", check=False), "old.onnx", "export it again")
    assert "no: exported before speaker adaptation" in " ".join(cli("info", old_artifact).stdout.split())


# -- the verbs ---------------------------------------------------------------------------------


def test_eval_adapt_centres_each_clip_on_its_speakers_other_clips(
    adapted_model: Path, corpus: Path, tmp_path: Path
) -> None:
    report = tmp_path / "eval.json"
    proc = cli("eval", adapted_model, corpus, "--actors", "1002,1003", "--adapt", "--json", report)
    assert "fused, speaker-adapted" in proc.stdout and "audio, speaker-adapted" in proc.stdout
    doc = json.loads(report.read_text())
    adapted = doc["speaker_adapted"]

    # the same, computed here from the network's parts: every scoring window embedded, each clip
    # shifted by the reference minus the mean of its speaker's other clips' windows
    model, meta = load_checkpoint(adapted_model)
    reference = torch.tensor(meta[REFERENCE_KEY], dtype=torch.float32)
    clips = [c for c in scan_corpus(corpus) if c.actor in ("1002", "1003")]
    store = ClipStore(model.cfg)
    windows = []
    with torch.no_grad():
        for clip in clips:
            pcm = store.audio(clip)
            starts = scoring_starts(len(pcm) / 16000, 2.0, 0.5)
            batch = torch.from_numpy(np.stack([cut_window(pcm, None, s, model.cfg).audio for s in starts]))
            windows.append(model.embed(batch, None)[0])
    right = {"fused": 0, "audio": 0}
    for i, clip in enumerate(clips):
        others = torch.cat([w for j, w in enumerate(windows) if j != i and clips[j].actor == clip.actor])
        emb = windows[i] + (reference - others.double().mean(0).float())
        with torch.no_grad():
            fused, audio, _ = model.classify(emb, None, torch.ones(len(emb), 2))
        for name, logits in (("fused", fused), ("audio", audio)):
            right[name] += int(torch.softmax(logits.double(), -1).mean(0).argmax()) == clip.label
    assert adapted["fused"]["accuracy"] == pytest.approx(right["fused"] / len(clips))
    assert adapted["audio"]["accuracy"] == pytest.approx(right["audio"] / len(clips))
    assert doc["fused"]["n"] == adapted["fused"]["n"] == len(clips)
    assert adapted["unadapted_clips"] == 0 and "scored unadapted" not in proc.stdout


def test_eval_adapt_says_which_clips_had_no_one_to_centre_on(adapted_model: Path, corpus: Path, tmp_path: Path) -> None:
    """A speaker with a single clip keeps it unshifted; the figures must say so, not call it adapted."""
    mixed = tmp_path / "mixed"
    (mixed / "AudioWAV").mkdir(parents=True)
    wavs = sorted((corpus / "AudioWAV").glob("*.wav"))
    chosen = [p for p in wavs if p.name.startswith("1003_")] + [next(p for p in wavs if p.name.startswith("1002_"))]
    for p in chosen:
        shutil.copy(p, mixed / "AudioWAV" / p.name)
    report = tmp_path / "eval.json"
    proc = cli("eval", adapted_model, mixed, "--adapt", "--json", report)
    assert json.loads(report.read_text())["speaker_adapted"]["unadapted_clips"] == 1
    assert f"1 of {len(chosen)} clips scored unadapted" in proc.stdout


def test_adapt_needs_a_reference(untrained_checkpoint: Path, corpus: Path) -> None:
    proc = cli("eval", untrained_checkpoint, corpus, "--adapt", check=False)
    one_line_error(proc, "model.pt", "no training reference for speaker adaptation")


@pytest.mark.slow
def test_run_adapt_centres_after_enough_voiced_windows(adapted_model: Path, tmp_path: Path) -> None:
    """Live adaptation averages the windows the VAD passes as speech, and centres once it holds 8."""
    import soundfile as sf

    from tests.test_zoo import ANGRY

    onnx_path = tmp_path / "m.onnx"
    cli("export", adapted_model, "-o", onnx_path)
    # 1 s of silence, then a real actor's sentence: the silence is not averaged
    speech, _ = sf.read(ANGRY, dtype="float32")
    wav = write_wav(tmp_path / "voice.wav", np.concatenate([np.zeros(16000, np.float32), speech]))
    jsonl = tmp_path / "events.jsonl"
    proc = cli("run", onnx_path, "--audio", f"file://{wav}", "--fast", "--print", "--adapt", "--jsonl", jsonl)
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    voiced = [e["present"]["audio"] for e in events]
    assert not any(voiced[:4]) and sum(voiced) > 8  # silence first, then enough speech to centre
    counts = [e["adaptation"][0] for e in events]
    assert counts == list(np.cumsum(voiced))  # each voiced window joins the mean, nothing else
    ready = [0, *counts[:-1]]
    assert [e["adapted"] for e in events] == [v and n >= 8 for v, n in zip(voiced, ready, strict=True)]
    assert f"speaker adaptation: running mean of {sum(voiced)} voiced windows" in proc.stdout
    plain = tmp_path / "plain.jsonl"
    cli("run", onnx_path, "--audio", f"file://{wav}", "--fast", "--print", "--no-adapt", "--jsonl", plain)
    unadapted = [json.loads(line) for line in plain.read_text().splitlines()]
    first = next(i for i, e in enumerate(events) if e["adapted"])
    assert [e["raw"] for e in unadapted[:first]] == [e["raw"] for e in events[:first]]
    assert unadapted[first]["raw"]["audio"] != events[first]["raw"]["audio"]
    assert not any(e["adapted"] for e in unadapted) and all(e["adaptation"] is None for e in unadapted)


def test_reference_of_names_the_artifact() -> None:
    with pytest.raises(AdaptationError, match=r"^x\.onnx: exported before speaker adaptation"):
        reference_of({}, "x.onnx", adaptable=False)
    with pytest.raises(AdaptationError, match=r"^x\.onnx: carries no training reference"):
        reference_of({}, "x.onnx")
