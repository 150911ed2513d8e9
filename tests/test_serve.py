"""`edgefusion serve` (a real Triton server through PyTriton) and the remote runner that uses it.

The server is the real ``tritonserver`` binary PyTriton bundles, started by ``edgefusion serve``
in the serving environment (``make serve-env``); the client is ``tritonclient`` over gRPC. Where
the serving environment cannot be built (no Debian python3.11), these tests skip and say so.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgefusion.metrics import softmax
from edgefusion.runtime.remote_runner import RemoteRunner, parse_server
from edgefusion.runtime.runner import open_runner
from edgefusion.zoo import shipped
from tests.conftest import EDGEFUSION, cli, one_line_error
from tests.test_zoo import ANGRY, EXAMPLES
from tests.triton_server import Server, free_port

WINDOW = 32000  # the shipped model's 2 s at 16 kHz


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shipped CPU INT8 model served once for the module."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with Server(shipped("int8-cpu"), log, "--threads", "1") as s:
        yield s


def clip_windows(path: Path, hop: int = 4000) -> np.ndarray:
    """Every 2 s window of a real clip at a 0.25 s hop, [N, 32000] float32."""
    audio, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and audio.ndim == 1
    return np.stack([audio[i : i + WINDOW] for i in range(0, len(audio) - WINDOW + 1, hop)])


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the remote runner gives what the local runner gives ---------------------------------------


def test_remote_runner_matches_the_local_runner_on_a_real_clip(server: Server) -> None:
    artifact = shipped("int8-cpu")
    windows = clip_windows(ANGRY)
    feed = {
        "audio": windows,
        "video": np.zeros((len(windows), 4, 112, 112, 3), np.uint8),
        "present": np.tile(np.array([[1.0, 0.0]], np.float32), (len(windows), 1)),
    }
    with open_runner(artifact, threads=1) as local:
        want = local.infer(feed)
    with RemoteRunner(artifact, parse_server(server.url)) as remote:
        assert remote.model == "speech.int8" and remote.max_batch == 32
        got = remote.infer(feed)  # one request of every window: the server batches it
        one = remote.infer({k: v[:1] for k, v in feed.items()})
    assert len(windows) >= 5
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0)
        np.testing.assert_allclose(one[name], want[name][:1], atol=1e-5, rtol=0)
    probs = softmax(got["logits"].astype(np.float64))
    np.testing.assert_allclose(probs, softmax(want["logits"].astype(np.float64)), atol=1e-5, rtol=0)
    assert not np.allclose(got["logits"][0], got["logits"][-1])  # the windows differ: not a constant answer


def test_run_through_the_server_emits_what_the_local_run_emits(server: Server, tmp_path: Path) -> None:
    clip = f"file://{EXAMPLES / ANGRY.name}"
    local = cli("run", shipped("int8-cpu"), "--audio", clip, "--fast", "--print", "--jsonl", tmp_path / "l.jsonl",
                "--threads", "1")  # fmt: skip
    remote = cli("run", "--server", server.url, "--audio", clip, "--fast", "--print", "--jsonl", tmp_path / "r.jsonl")
    assert "gives the contract" in remote.stderr and "triton speech.int8 at" in remote.stdout
    assert "server: 0 hops lost unanswered" in remote.stdout
    here, there = jsonl(tmp_path / "l.jsonl"), jsonl(tmp_path / "r.jsonl")
    assert len(here) == len(there) >= 10
    assert [e["label"] for e in there] == [e["label"] for e in here]
    assert any(e["label"] for e in there)
    for a, b in zip(here, there, strict=True):
        for modality, probs in a["raw"].items():
            for name, p in probs.items():
                assert abs(b["raw"][modality][name] - p) <= 1e-5 + 1e-9  # events round to 5 decimals
    assert local.stdout.splitlines()[-1] == remote.stdout.splitlines()[-1]  # the same majority label


def test_eval_through_the_server_scores_what_eval_here_scores(server: Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "AudioWAV").mkdir(parents=True)
    for i, clip in enumerate(sorted(EXAMPLES.glob("*.wav"))):  # the six examples, named as CREMA-D names clips
        emotion = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")[i]
        (corpus / "AudioWAV" / f"10{i + 1:02d}_DFA_{emotion}_XX.wav").write_bytes(clip.read_bytes())
    for where, extra in (("here", []), ("there", ["--server", server.url])):
        cli("eval", shipped("int8-cpu"), corpus, "--json", tmp_path / f"{where}.json", *extra)
    here, there = (json.loads((tmp_path / f"{w}.json").read_text()) for w in ("here", "there"))
    assert there["fused"] == here["fused"] and there["audio"] == here["audio"]
    assert here["fused"]["accuracy"] > 0.3  # the shipped model hears these clips (the card: 4-5 of 6)


# -- a server that goes away costs hops, not the run -------------------------------------------


def test_a_killed_server_costs_hops_and_the_client_recovers_when_it_returns(tmp_path: Path) -> None:
    clips = [sf.read(p, dtype="float32")[0] for p in sorted(EXAMPLES.glob("*.wav"))]
    session = tmp_path / "session.wav"
    sf.write(session, np.concatenate(clips * 2)[: 16000 * 30], 16000)  # 30 s of speech
    first = Server(shipped("int8-cpu"), tmp_path / "serve.log", "--threads", "1").start()
    events = tmp_path / "events.jsonl"
    command = [*EDGEFUSION, "run", "--server", first.url, "--audio", f"file://{session}", "--print",
               "--no-vad", "--no-adapt", "--jsonl", str(events)]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        deadline = time.monotonic() + 20
        while (not events.exists() or len(events.read_text().splitlines()) < 8) and time.monotonic() < deadline:
            time.sleep(0.1)
        first.kill()  # mid-run, no clean shutdown
        second = Server(shipped("int8-cpu"), tmp_path / "serve2.log", "--threads", "1", grpc_port=first.grpc_port)
        second.start()  # the same address, a new process
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
        if second is not None:
            second.stop()
        first.kill()
    assert run.returncode == 0, err
    got = jsonl(events)
    lost = [i for i, e in enumerate(got) if e["unanswered"]]
    assert lost, "killing the server lost no hop"
    assert all(got[i]["label"] is None for i in lost)
    assert got[0]["label"] is not None  # answered before the kill
    after = [e for e in got[lost[-1] + 1 :] if e["label"] is not None]
    assert len(after) >= 4, "no decisions after the server came back"
    assert got[-1]["lost"] == len(lost)
    assert f"server: {len(lost)} hops lost unanswered" in out and "came back 1 times" in out
    assert "(no server)" in out


# -- bad input: one line each --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "fragment"),
    [
        ("grpc//localhost:8001", "not a server URI"),
        ("http://localhost:8000", "scheme 'http' is not served here"),
        ("grpc://localhost:99999", "port 99999 is not between 1 and 65535"),
        ("grpc://local host:8001", "cannot read a host and port"),
    ],
)
def test_a_server_uri_that_does_not_parse_is_one_line(server: str, fragment: str) -> None:
    one_line_error(cli("run", "--server", server, "--audio", f"file://{ANGRY}", "--fast", check=False), fragment)


def test_an_unreachable_server_is_one_line_and_wait_keeps_trying() -> None:
    url = f"grpc://127.0.0.1:{free_port()}"
    args = ("run", "--server", url, "--audio", f"file://{ANGRY}", "--fast")
    one_line_error(cli(*args, check=False), url, "no Triton server answers (--wait SECONDS keeps trying)")
    start = time.monotonic()
    one_line_error(cli(*args, "--wait", "2", check=False), "after waiting 2 s")
    assert time.monotonic() - start >= 2
    one_line_error(cli("run", "--wait", "2", "--audio", f"file://{ANGRY}", check=False), "give --server")
    one_line_error(cli(*args, "--backend", "onnxruntime", check=False), "--backend chooses how this machine runs")


def test_a_model_the_server_lacks_is_one_line(server: Server) -> None:
    proc = cli("run", "--server", server.url, "--model-name", "nope", "--audio", f"file://{ANGRY}", "--fast",
               check=False)  # fmt: skip
    one_line_error(proc, "has no model 'nope' ready", "--model-name")


def test_a_server_model_with_another_contract_is_one_line(server: Server, tmp_path: Path) -> None:
    import torch

    from edgefusion.config import ModelConfig
    from edgefusion.model.checkpoint import save_checkpoint
    from edgefusion.model.network import EmotionNet

    torch.manual_seed(0)
    other = save_checkpoint(tmp_path / "two-frames.pt", EmotionNet(ModelConfig(frames=2)).eval())
    proc = cli("run", other, "--server", server.url, "--model-name", "speech.int8", "--audio", f"file://{ANGRY}",
               "--fast", check=False)  # fmt: skip
    one_line_error(proc, "model 'speech.int8' has video UINT8 [4, 112, 112, 3]", "two-frames.pt has video UINT8 [2, ")


def test_serve_refuses_bad_settings_in_one_line(server: Server, tmp_path: Path) -> None:
    one_line_error(cli("serve", tmp_path / "missing.onnx", check=False), "missing.onnx: no such file")
    busy = cli("serve", "--grpc-port", server.grpc_port, check=False)
    one_line_error(busy, f"--grpc-port {server.grpc_port}: cannot listen", "choose another")
    one_line_error(cli("serve", "--max-batch", "0", check=False), "--max-batch must be at least 1")
    one_line_error(cli("serve", "--preferred", "4,64", check=False), "between 1 and --max-batch 32")
    lacking = cli("serve", check=False, env={"EDGEFUSION_SERVE_PYTHON": str(tmp_path / "nopython")})
    one_line_error(lacking, "nopython: no such interpreter")


def test_health_over_http_and_ctrl_c_stops_the_server_cleanly_with_a_summary(tmp_path: Path) -> None:
    import urllib.request

    s = Server(shipped("int8-cpu"), tmp_path / "serve.log", "--threads", "1").start()
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/speech.int8/ready"):
        with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}{path}", timeout=5) as answer:
            assert answer.status == 200, path
    with RemoteRunner(shipped("int8-cpu"), parse_server(s.url)) as remote:
        remote.infer({"audio": clip_windows(ANGRY)[:3], "present": np.array([[1, 0]] * 3, np.float32)})
    assert s.stop() == 0
    with pytest.raises(OSError):  # nothing listens any more
        urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/v2/health/live", timeout=5)
    log = s.log()
    assert "Traceback" not in log
    assert "serving speech.int8.onnx as model 'speech.int8'" in log
    assert "stopped: 1 batches of 3 windows (mean 3.00)" in log


def test_a_two_modality_model_through_the_server_with_and_without_faces(exported_onnx: Path, tmp_path: Path) -> None:
    """Rows with a face send video, rows without leave it out (the server fills zeros): both as here."""
    from tests.conftest import feed

    batch = feed(6, seed=3)
    batch["present"][::2, 1] = 0.0  # every other row: no face
    no_face = {k: v[::2] for k, v in batch.items()}
    with Server(exported_onnx, tmp_path / "serve.log", "--threads", "1") as s, open_runner(exported_onnx) as local:
        with RemoteRunner(exported_onnx, parse_server(s.url)) as remote:
            assert remote.model == "model" and remote.skips_absent_video
            for f in (batch, no_face):
                want, got = local.infer(f), remote.infer(f)
                # without a face the video was not sent, so video_logits (which mean nothing then) differ
                for name in [n for n in want if f is batch or n != "video_logits"]:
                    np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0)
        assert "has a fixed batch of 1" in s.log()  # said at the start: the runner takes the rows in turn


# -- bench --streams: many real-time streams against one server ----------------------------------


def test_bench_streams_against_the_server_and_as_local_processes(server: Server, tmp_path: Path) -> None:
    session = tmp_path / "session.wav"
    sf.write(session, np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(EXAMPLES.glob("*.wav"))]), 16000)
    proc = cli("bench", shipped("int8-cpu"), "--streams", "1,2", "--server", server.url, "--audio", f"file://{session}",
               "--stream-seconds", "3", "--json", tmp_path / "s.json", "--markdown", tmp_path / "s.md")  # fmt: skip
    report = json.loads((tmp_path / "s.json").read_text())
    for side in ("server", "local"):
        assert [r["streams"] for r in report["rounds"][side]] == [1, 2]
    for side in ("server", "local"):
        for r in report["rounds"][side]:
            assert r["events"] >= r["streams"] * 10  # 3 s at 4 hops a second, every stream
            assert 0 < r["p50_ms"] <= r["p99_ms"] < 1000
    server_rounds = report["rounds"]["server"]
    assert all(r["server_executions"] >= 10 and r["mean_batch"] >= 1.0 for r in server_rounds)
    assert all(0 < r["server_ms_per_window"] < 1000 and 0 < r["server_busy"] < 1 for r in server_rounds)
    assert "p99 local/server" in (tmp_path / "s.md").read_text()
    assert "the most streams with p99 under the 250 ms hop" in proc.stdout


def test_bench_times_an_artifact_here_and_through_the_server_side_by_side(server: Server, tmp_path: Path) -> None:
    cli("bench", shipped("int8-cpu"), "--server", server.url, "--runs", "30", "--warmup", "5", "--no-memory",
        "--json", tmp_path / "b.json")  # fmt: skip
    rows = {a["name"]: a for a in json.loads((tmp_path / "b.json").read_text())["artifacts"]}
    here, there = rows["speech.int8.onnx"], rows["speech.int8.onnx [server]"]
    assert there["backend"] == "triton" and there["variant"] == "server"
    assert len(there["samples_ms"]) == len(here["samples_ms"]) == 30
    # gRPC and Triton's queue add to every call; both ran the same graph round-robin
    assert there["latency"]["median_ms"] > here["latency"]["median_ms"]


def test_bench_streams_refuses_what_cannot_be_measured(tmp_path: Path) -> None:
    art = shipped("int8-cpu")
    unreachable = cli("bench", art, "--streams", "1", "--server", "grpc://localhost:1", "--audio", f"file://{ANGRY}",
                      check=False)  # fmt: skip
    one_line_error(unreachable, "grpc://localhost:1: no Triton server answers")
    one_line_error(cli("bench", art, "--streams", "2", check=False), "give --audio file://clip.wav")
    one_line_error(cli("bench", art, art, "--streams", "2", "--audio", f"file://{ANGRY}", check=False), "one artifact")
    one_line_error(cli("bench", art, "--streams", "0", "--audio", f"file://{ANGRY}", check=False), "at least 1")
    long = cli("bench", art, "--streams", "1", "--audio", f"file://{ANGRY}", "--stream-seconds", "60", check=False)
    one_line_error(long, "would outrun it")
