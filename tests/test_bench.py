"""`edgefusion bench`: the statistics against known sleep times, the recommendation, the reports, --compare."""

from __future__ import annotations

import json
import time
from itertools import cycle
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgefusion.artifact.contract import OUTPUTS, contract, synthetic_feed
from edgefusion.artifact.metadata import ArtifactMeta
from edgefusion.bench.latency import Latency, time_runners
from edgefusion.bench.recommend import Candidate, recommend
from edgefusion.bench.report import compare_reports, load_report, markdown
from edgefusion.config import ModelConfig
from edgefusion.errors import EdgefusionError
from edgefusion.labels import CLASSES
from edgefusion.runtime.runner import Runner
from tests.conftest import cli, one_line_error

SMALL = ModelConfig(blocks=((16, 2), (24, 2)), stem_channels=8, embed_dim=32, heads=2)
RAVDESS_CLIP = Path(__file__).resolve().parents[2] / "shared/data/ravdess-speech/Actor_13/03-01-05-01-01-01-13.wav"


class SleepRunner(Runner):
    """A timing instrument, not a model: each call sleeps the next duration of a schedule.

    ``time.sleep`` never returns early, so every measured call must be at least its scheduled
    time, and (on a machine not starved for minutes) not much more.
    """

    backend = "sleep"

    def __init__(self, schedule_ms: list[float], warmup_ms: float = 0.0, warmup_calls: int = 0) -> None:
        self.schedule = cycle(schedule_ms)
        self.warmup_ms = warmup_ms
        self.warmup_calls = warmup_calls  # the first calls sleep warmup_ms (they must not be timed)
        self.calls = 0
        super().__init__("sleep.instrument")

    def _read_meta(self) -> ArtifactMeta:
        return ArtifactMeta(SMALL, list(CLASSES), contract(SMALL), "fp32", "test")

    def _activate(self) -> None:
        pass

    def _deactivate(self) -> None:
        pass

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        time.sleep((self.warmup_ms if self.calls <= self.warmup_calls else next(self.schedule)) / 1e3)
        return {k: np.zeros((len(feed["audio"]), len(CLASSES)), np.float32) for k in OUTPUTS}


def test_latency_statistics_of_known_durations() -> None:
    ms = np.array([1.0] * 98 + [10.0, 50.0])
    lat = Latency.of((ms * 1e6).astype(np.int64), batch=4)
    assert lat.runs == 100 and lat.median_ms == pytest.approx(1.0)
    assert lat.max_ms == pytest.approx(50.0)  # the outlier is reported, not dropped
    assert lat.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert lat.mean_ms == pytest.approx(1.58) and lat.std_ms == pytest.approx(ms.std())
    assert lat.cv == pytest.approx(ms.std() / 1.58) and lat.noisy
    assert lat.throughput == pytest.approx(4 / 1.58e-3)
    with pytest.raises(ValueError):
        Latency.of([])


def test_percentiles_of_runners_with_known_sleep_times() -> None:
    # 100 calls a round-robin cycle: 80 of 2 ms, 15 of 6 ms, 5 of 20 ms; warm-up calls sleep 60 ms
    schedule = [2.0] * 80 + [6.0] * 15 + [20.0] * 5
    order = np.random.default_rng(0).permutation(schedule).tolist()
    fast, slow = SleepRunner(order, 60.0, warmup_calls=3), SleepRunner([4.0], 60.0, warmup_calls=3)
    feed = synthetic_feed(SMALL, windows=1)
    for r in (fast, slow):
        r.activate()
    timings = time_runners({"fast": fast, "slow": slow}, {"fast": feed, "slow": feed}, runs=100, warmup=3)
    expected = {"median_ms": 2.0, "p90_ms": np.percentile(schedule, 90), "p99_ms": np.percentile(schedule, 99)}
    got = timings["fast"].latency
    assert got.runs == 100 and len(timings["fast"].samples_ns) == 100
    for key, want in expected.items():
        value = getattr(got, key)
        assert want <= value <= want * 1.1 + 1.5, (key, value, want)  # never below, a little above
    assert 20.0 <= got.max_ms < 60.0  # the 20 ms calls counted; the 60 ms warm-up calls not
    assert min(timings["fast"].samples_ns) >= 2e6
    assert 4.0 <= timings["slow"].latency.median_ms <= 4.0 * 1.1 + 1.5
    assert timings["fast"].split_ms is None  # no GPU split on a CPU-side runner


def test_timing_by_the_clock_stops_after_the_given_seconds() -> None:
    runner = SleepRunner([10.0])
    runner.activate()
    feed = synthetic_feed(SMALL, windows=1)
    start = time.perf_counter()
    timings = time_runners({"r": runner}, {"r": feed}, runs=None, warmup=0, seconds=0.3)
    elapsed = time.perf_counter() - start
    assert 0.3 <= elapsed < 1.5
    assert 5 <= timings["r"].latency.runs <= 30
    with pytest.raises(ValueError):
        time_runners({"r": runner}, {"r": feed}, runs=0)


def candidates() -> list[Candidate]:
    return [
        Candidate("fp32", "fp32", 0.60, p99_ms=20.0, median_ms=15.0),
        Candidate("fp16", "fp16", 0.60, p99_ms=25.0, median_ms=18.0),
        Candidate("int8-a", "int8", 0.595, p99_ms=8.0, median_ms=6.0),
        Candidate("int8-b", "int8", 0.55, p99_ms=5.0, median_ms=4.0),
    ]


def test_recommend_the_fastest_within_the_drop() -> None:
    rec = recommend(candidates(), max_drop=1.0)
    assert rec.choice == "int8-a"  # int8-b is faster but loses 5 points
    assert "fastest within 1 pt of fp32" in rec.reason and "2.50x" in rec.reason
    assert recommend(candidates(), max_drop=10.0).choice == "int8-b"
    assert recommend(candidates(), max_drop=0.0).choice == "fp32"  # fp16 is as accurate, but slower


def test_recommend_the_most_accurate_within_the_budget() -> None:
    assert recommend(candidates(), max_drop=10.0, budget_ms=22.0).choice == "fp32"
    assert recommend(candidates(), max_drop=10.0, budget_ms=9.0).choice == "int8-a"
    none = recommend(candidates(), max_drop=10.0, budget_ms=1.0)
    assert none.choice is None and "nothing fits" in none.reason and "int8-b" in none.reason
    assert "none has p99 <= 1 ms" in none.reason
    # the budget alone is met (int8-b), the drop alone too (fp32): both are named
    tight = recommend(candidates(), max_drop=0.1, budget_ms=6.0)
    assert tight.choice is None
    assert "the fastest within 0.1 pt, fp32, has p99 20.00 ms" in tight.reason
    assert "within the budget, int8-b loses 5.0 pt" in tight.reason


def fake_report(name: str, samples: np.ndarray, accuracy: float) -> dict:
    """A report as `bench --json` writes it (the fields compare_reports reads)."""
    return {
        "tool": "edgefusion bench",
        "machine": {"date": "2026-12-01T00:00:00+00:00"},
        "settings": {"data": "corpus", "actors": "13-16"},
        "artifacts": [
            {
                "name": name,
                "accuracy": accuracy,
                "samples_ms": samples.tolist(),
                "latency": Latency.of((samples * 1e6).astype(np.int64)).to_dict(),
            }
        ],
    }


def test_compare_flags_regressions_beyond_the_noise_only() -> None:
    rng = np.random.default_rng(1)
    base = 5 + rng.gamma(2.0, 0.5, 300)  # a skewed latency distribution around 6 ms
    old = fake_report("m.onnx", base, 0.60)
    same = fake_report("m.onnx", 5 + rng.gamma(2.0, 0.5, 300), 0.60)
    slower = fake_report("m.onnx", 1.3 * (5 + rng.gamma(2.0, 0.5, 300)), 0.60)
    faster = fake_report("m.onnx", 0.7 * (5 + rng.gamma(2.0, 0.5, 300)), 0.60)
    worse = fake_report("m.onnx", 5 + rng.gamma(2.0, 0.5, 300), 0.58)
    assert compare_reports(old, same)["changes"][0]["verdict"] == "within noise"
    slow = compare_reports(old, slower)
    assert slow["regressions"] == ["m.onnx"] and slow["changes"][0]["ratio"] == pytest.approx(1.3, abs=0.05)
    assert compare_reports(old, faster)["changes"][0]["verdict"] == "faster"
    acc = compare_reports(old, worse)
    assert acc["regressions"] == ["m.onnx"] and "-2.0 pt" in acc["changes"][0]["line"]
    renamed = compare_reports(old, fake_report("other.onnx", base, 0.6))
    assert {c["verdict"] for c in renamed["changes"]} == {"new", "gone"}


def test_load_report_refuses_what_bench_did_not_write(tmp_path: Path) -> None:
    with pytest.raises(EdgefusionError, match="no such report"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgefusionError, match="not a JSON report"):
        load_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(EdgefusionError, match="not a report written by"):
        load_report(tmp_path / "other.json")


# -- the command, end to end on real artifacts ---------------------------------------------------


@pytest.fixture(scope="module")
def artifacts(untrained_checkpoint: Path, av_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("bench")
    onnx, fp16 = work / "m.onnx", work / "m.fp16.onnx"
    cli("export", untrained_checkpoint, "-o", onnx, "--data", av_corpus, cache=work)
    cli("export", untrained_checkpoint, "-o", fp16, "--precision", "fp16", "--data", av_corpus, cache=work)
    return {"work": work, "pt": untrained_checkpoint, "fp32": onnx, "fp16": fp16}


@pytest.mark.slow
def test_bench_reports_every_figure_and_recommends(artifacts: dict, av_corpus: Path) -> None:
    work = artifacts["work"]
    wav = next((av_corpus / "AudioWAV").glob("1003_*_HAP_*.wav"))
    report_json, report_md, plot = work / "r.json", work / "r.md", work / "r.png"
    proc = cli(
        "bench", artifacts["pt"], artifacts["fp32"], artifacts["fp16"], "--runs", "15", "--warmup", "2",
        "--threads", "1", "--data", av_corpus, "--actors", "1003", "--recommend", "--max-drop", "100",
        "--stream", "--audio", f"file://{wav}", "--stream-seconds", "1.5",
        "--json", report_json, "--markdown", report_md, "--plot", plot, cache=work,
    )  # fmt: skip
    report = json.loads(report_json.read_text())
    rows = {a["name"]: a for a in report["artifacts"]}
    assert list(rows) == ["model.pt", "m.onnx", "m.fp16.onnx"]
    for a in rows.values():
        lat = a["latency"]
        assert lat["runs"] == 15 and len(a["samples_ms"]) == 15
        assert 0 < lat["median_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        assert lat["max_ms"] == pytest.approx(max(a["samples_ms"]), abs=1e-3)
        assert a["memory"]["peak_rss_mb"] > a["memory"]["base_rss_mb"] > 20  # an interpreter with numpy at least
        assert a["size_mb"] == pytest.approx(Path(a["path"]).stat().st_size / 1e6, abs=1e-3)
        assert 0 <= a["accuracy"] <= 1 and a["clips"] == 6
        assert a["stream"]["events"] >= 4 and a["stream"]["skipped"] == 0
        assert "inference" in a["stream"]["stages_ms"]
    assert rows["model.pt"]["precision"] == "fp32" and rows["m.fp16.onnx"]["precision"] == "fp16"
    # the fp32 ONNX and the checkpoint compute the same function: same accuracy on the same clips
    assert rows["m.onnx"]["accuracy"] == rows["model.pt"]["accuracy"]
    assert report["recommendation"]["choice"] in rows
    assert report["machine"]["cores"] >= 1 and report["machine"]["date"].startswith("20")
    assert "--data clips" in report["feed"]
    assert "recommendation:" in proc.stdout and "stream m.onnx:" in proc.stdout
    table = [line for line in report_md.read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 3 and "accuracy" in table[0]
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[1] > 1000 and image.std() > 10

    # --compare: an old report whose times were 5x shorter shows every artifact as a regression
    old = json.loads(report_json.read_text())
    for a in old["artifacts"]:
        a["samples_ms"] = [v / 5 for v in a["samples_ms"]]
        a["latency"]["median_ms"] /= 5
    (work / "old.json").write_text(json.dumps(old))
    proc = cli(
        "bench", artifacts["fp32"], "--runs", "15", "--warmup", "2", "--no-memory", "--compare", work / "old.json"
    )
    assert "m.onnx: median" in proc.stdout and "REGRESSION" in proc.stdout


def test_memory_probe_reports_its_own_peak_not_its_parents(artifacts: dict) -> None:
    """Linux carries ru_maxrss over exec from the parent: a probe started by a process holding
    600 MB must still report the few hundred MB an ONNX runner takes, not the parent's peak."""
    from edgefusion.bench.memory import measure

    held = np.ones(600 * 2**20 // 8)  # touched: 600 MB resident in this process
    probe = measure(artifacts["fp32"], threads=1)
    assert held.sum() > 0
    assert 0 < probe.base_rss_mb < probe.peak_rss_mb < 500, probe


def test_markdown_without_accuracy_has_no_accuracy_column() -> None:
    report = fake_report("m.onnx", np.full(10, 2.0), 0.5)
    del report["artifacts"][0]["accuracy"]
    report["artifacts"][0] |= {"runner": "onnxruntime[CPU] (fp32)", "size_mb": 1.0, "memory": None}
    report["settings"] |= {"runs": 10, "seconds": None, "threads": 1, "batch": 1, "warmup": 2}
    report["machine"] |= {"cpu": "CPU", "usable_cores": 2, "load_average": [0.1], "checks": {}}
    report["feed"] = "tones"
    text = markdown(report)
    assert "accuracy" not in text.splitlines()[2] and "| m.onnx | onnxruntime[CPU] (fp32) | 1.00 | 2.00 |" in text


def test_bench_bad_input_is_one_line(artifacts: dict, av_corpus: Path, tmp_path: Path) -> None:
    onnx = artifacts["fp32"]
    one_line_error(cli("bench", tmp_path / "nope.onnx", check=False), "nope.onnx", "no such file")
    (tmp_path / "notes.txt").write_text("x")
    one_line_error(cli("bench", tmp_path / "notes.txt", check=False), "notes.txt", "unknown artifact type")
    one_line_error(cli("bench", onnx, "--runs", "0", check=False), "--runs must be at least 1")
    one_line_error(cli("bench", onnx, "--plot", tmp_path / "no/dir/p.png", check=False), "does not exist")
    one_line_error(cli("bench", onnx, "--stream", check=False), "--stream needs an audio source")
    one_line_error(cli("bench", onnx, "--recommend", check=False), "--recommend needs --data")
    one_line_error(cli("bench", onnx, "--threads", "0", check=False), "--threads must be at least 1")
    one_line_error(cli("bench", onnx, "--actors", "13", check=False), "--actors picks clips of --data")
    one_line_error(cli("bench", onnx, "--budget-ms", "10", check=False), "add --recommend")
    one_line_error(cli("bench", onnx, "--plot", tmp_path / "p.txt", check=False), "a plot is written as")
    one_line_error(cli("bench", onnx, "--compare", tmp_path / "old.json", check=False), "old.json", "no such report")
    # a model with another input contract cannot be scored on the same clips
    import torch

    from edgefusion.model.checkpoint import save_checkpoint
    from edgefusion.model.network import EmotionNet

    torch.manual_seed(0)
    other = save_checkpoint(tmp_path / "two-frames.pt", EmotionNet(ModelConfig(frames=2)).eval())
    proc = cli("bench", onnx, other, "--data", av_corpus, "--no-memory", "--runs", "1", check=False)
    one_line_error(proc, "m.onnx", "two-frames.pt", "take different inputs")


@pytest.mark.skipif(not RAVDESS_CLIP.is_file(), reason="needs ../shared/data/ravdess-speech")
def test_timing_feed_from_a_real_clip(artifacts: dict) -> None:
    from edgefusion.commands.bench import BenchSettings, timing_feed
    from edgefusion.data.audio import load_audio
    from edgefusion.runtime.runner import open_runner

    runner = open_runner(artifacts["fp32"])
    feed, source = timing_feed(runner, BenchSettings(batch=2, audio=f"file://{RAVDESS_CLIP}"), None)
    pcm = load_audio(RAVDESS_CLIP)
    assert feed["audio"].shape == (2, runner.meta.config.window_samples) and str(RAVDESS_CLIP) in source
    np.testing.assert_array_equal(feed["audio"][0], pcm[: runner.meta.config.window_samples])
