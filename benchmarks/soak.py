"""A real-time soak of the whole pipeline: memory growth and skipped hops over a long run (not in CI).

    .venv/bin/python benchmarks/soak.py MODEL.int8.onnx [--minutes 10] [--threads 2] [--out-dir soak-out]

Builds a WAV of real speech (RAVDESS clips end to end, or tones when the corpus is absent)
and an mp4v video of a real photograph's face drifting across the frame, both as long as the
soak, then runs `edgefusion run MODEL --audio file://... --video file://...` in real time
(not --fast) and samples the process's resident memory every few seconds. Reports the
resident memory one minute in (half-way through a run shorter than two minutes) and at the
end (growth in %), skipped hops, audio overflows and the per-stage latency percentiles from
the events. Writes soak.json and events.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from edgefusion.bench.memory import status_mb

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-speech"
SAMPLE_EVERY = 5.0  # seconds between memory samples
SETTLE = 60.0  # seconds before the baseline memory sample (imports, arenas, caches)
VIDEO_FPS = 15
VIDEO_SIZE = (640, 480)


def speech(seconds: float, path: Path) -> Path:
    sr = 16000
    clips = sorted(RAVDESS.glob("Actor_*/*.wav")) if RAVDESS.is_dir() else []
    parts, total = [], 0
    rng = np.random.default_rng(0)
    while total < seconds * sr:
        if clips:
            y, rate = sf.read(clips[int(rng.integers(len(clips)))], dtype="float32")
            assert rate == sr
        else:
            t = np.arange(2 * sr) / sr
            y = (0.3 * np.sin(2 * np.pi * rng.uniform(120, 300) * t)).astype(np.float32)
        parts.append(y)
        total += len(y)
    sf.write(path, np.concatenate(parts)[: int(seconds * sr)], sr, subtype="PCM_16")
    return path


def face_video(seconds: float, path: Path) -> Path:
    import cv2
    from skimage import data

    face = cv2.cvtColor(cv2.resize(data.astronaut(), (240, 240)), cv2.COLOR_RGB2BGR)
    w, h = VIDEO_SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (w, h))
    for i in range(int(seconds * VIDEO_FPS)):
        frame = np.full((h, w, 3), 90, dtype=np.uint8)
        x = int((w - 240) * (0.5 + 0.5 * np.sin(i / 40)))
        y = int((h - 240) * (0.5 + 0.5 * np.cos(i / 55)))
        frame[y : y + 240, x : x + 240] = face
        writer.write(frame)
    writer.release()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-dir", type=Path, default=Path("soak-out"))
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60
    wav = speech(seconds + 5, out / "speech.wav")
    mp4 = face_video(seconds + 5, out / "face.mp4")
    events = out / "events.jsonl"
    cmd = [
        sys.executable, "-m", "edgefusion", "run", str(args.model), "--audio", f"file://{wav}",
        "--video", f"file://{mp4}", "--duration", str(seconds), "--threads", str(args.threads),
        "--print", "--jsonl", str(events),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    while proc.poll() is None:
        rss = status_mb("VmRSS", proc.pid)
        if rss is not None:  # None once the process has ended
            samples.append((time.monotonic() - start, rss))
        time.sleep(SAMPLE_EVERY)
    if proc.returncode != 0:
        sys.exit(f"edgefusion run failed:\n{proc.stderr.read() if proc.stderr else ''}")
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    settle = min(SETTLE, seconds / 2)  # a short run takes its baseline half-way
    base = next(m for t, m in samples if t >= settle)
    end = samples[-1][1]
    latency = {
        stage: {q: float(np.nanpercentile([r["latency_ms"][stage] for r in rows], q)) for q in (50, 99)}
        for stage in ("inference", "pipeline", "total", "audio_age", "frame_age")
    }
    report = {
        "minutes": args.minutes,
        "events": len(rows),
        "skipped_hops": rows[-1]["skipped"],
        "overflows": rows[-1]["overflows"],
        "rss_mb_baseline": round(base, 1),
        "baseline_at_s": settle,
        "rss_mb_at_end": round(end, 1),
        "rss_growth_percent": round(100 * (end - base) / base, 2),
        "video_present_fraction": float(np.mean([r["present"]["video"] for r in rows])),
        "latency_ms": latency,
        "rss_samples": samples,
    }
    (out / "soak.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "rss_samples"}, indent=2))


if __name__ == "__main__":
    main()
