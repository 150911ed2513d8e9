#!/usr/bin/env python3
"""The end of `make demo`: the shipped model live on a microphone that hears real speech.

A private PulseAudio server gets a null sink whose monitor is the default microphone. The
example RAVDESS clips (examples/ravdess) are played into it one after another with seconds of
silence between them, while ``edgefusion run --audio mic://default`` (no artifact: the shipped
model) listens and prints one line per hop: a label while someone speaks, "no speech" in the
gaps, and speaker adaptation warming up. Then each stretch of speech the VAD found is matched to
the clip played in it, and its majority label is compared with the clip's emotion.

    python tools/live_demo.py --out demo            # what `make demo` runs
    python tools/live_demo.py --gap 2 --clips a.wav b.wav

Needs pulseaudio, pactl, pacat and paplay (`make sysdeps` installs them). Exit 0 when the run
worked, whatever the model got right; 1 when the run or the audio plumbing failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ravdess"
RAVDESS_EMOTION = {"01": "NEU", "03": "HAP", "04": "SAD", "05": "ANG", "06": "FEA", "07": "DIS"}
TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")
LEAD_SECONDS = 2.0  # the run starts listening this long before the first clip
TAIL_SECONDS = 2.5  # and stops this long after the last one


def emotion_of(clip: Path) -> str | None:
    """The class a RAVDESS file name (03-01-EE-...) says, or None for another name."""
    parts = clip.stem.split("-")
    return RAVDESS_EMOTION.get(parts[2]) if len(parts) == 7 else None


def pulse(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SystemExit(f"live demo: `{' '.join(args)}` failed: {' '.join(done.stderr.split())}")


def start_pulse(folder: Path) -> tuple[dict[str, str], subprocess.Popen]:
    """A private PulseAudio server with a 16 kHz null sink as the default microphone; (env, keep-alive)."""
    runtime, home = folder / "runtime", folder / "home"
    runtime.mkdir(mode=0o700)
    home.mkdir()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(home)}
    pulse(env, "pulseaudio", "-D", "--system=false", "--exit-idle-time=-1")
    deadline = time.monotonic() + 10
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit("live demo: the PulseAudio server did not answer within 10 s")
        time.sleep(0.1)
    subprocess.run(["pactl", "unload-module", "module-suspend-on-idle"], env=env, capture_output=True)
    pulse(env, "pactl", "load-module", "module-null-sink", "sink_name=demo", "rate=16000", "channels=1")
    pulse(env, "pactl", "set-default-sink", "demo")
    pulse(env, "pactl", "set-default-source", "demo.monitor")
    # a stream of digital silence keeps the sink running between clips, as a room would
    with open("/dev/zero", "rb") as zeros:
        keepalive = subprocess.Popen(
            ["pacat", "-p", "--latency-msec=20", "--rate=16000", "--channels=1", "--format=s16le", "--raw"],
            stdin=zeros,
            env=env,
        )
    return env, keepalive


def segments(events: list[dict]) -> list[list[str]]:
    """The labels of each run of decided hops between hops without speech: one run per utterance."""
    runs: list[list[str]] = []
    current: list[str] = []
    for e in events:
        if e["label"] is not None:
            current.append(e["label"])
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def report(events: list[dict], clips: list[Path]) -> str:
    """Per clip: the majority label of the utterance heard while it played, and whether it is right."""
    heard = segments(events)
    lines = [f"{len(heard)} stretches of speech heard for {len(clips)} clips played"]
    right = 0
    for i, clip in enumerate(clips):
        want = emotion_of(clip)
        if i >= len(heard):
            lines.append(f"  {clip.name}: {want}, nothing heard")
            continue
        label, count = Counter(heard[i]).most_common(1)[0]
        right += label == want
        mark = "right" if label == want else "wrong"
        lines.append(f"  {clip.name}: {want}, heard {label} ({count} of {len(heard[i])} hops): {mark}")
    lines.append(f"majority label right for {right} of {len(clips)} clips")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo"), help="folder for live.jsonl (default: demo)")
    ap.add_argument("--clips", type=Path, nargs="+", help="WAV files to play (default: examples/ravdess/*.wav)")
    ap.add_argument("--gap", type=float, default=3.0, help="seconds of silence between clips (default: 3)")
    ap.add_argument("--edgefusion", default=str(Path(sys.executable).with_name("edgefusion")), help="the CLI to run")
    args = ap.parse_args(argv)
    clips = args.clips or sorted(EXAMPLES.glob("*.wav"), key=lambda p: list(RAVDESS_EMOTION).index(p.stem[6:8]))
    missing = [str(c) for c in clips if not c.is_file()]
    if missing or not clips:
        print(f"live demo: {missing[0] if missing else EXAMPLES}: no such clip", file=sys.stderr)
        return 1
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        print(f"live demo: {', '.join(absent)} not found: run `make sysdeps` (Debian: pulseaudio)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    jsonl = args.out / "live.jsonl"
    import soundfile as sf

    seconds = sum(sf.info(c).duration for c in clips) + args.gap * (len(clips) - 1) + LEAD_SECONDS + TAIL_SECONDS
    with tempfile.TemporaryDirectory(prefix="edgefusion-demo-") as tmp:
        env, keepalive = start_pulse(Path(tmp))
        try:
            cmd = [args.edgefusion, "run", "--audio", "mic://default", "--print", "--duration", f"{seconds:.1f}",
                   "--jsonl", str(jsonl)]  # fmt: skip
            print(f"$ {' '.join(cmd)}    # playing {len(clips)} clips into a PulseAudio null sink", flush=True)
            run = subprocess.Popen(cmd, env=env)
            time.sleep(LEAD_SECONDS)
            for i, clip in enumerate(clips):
                if run.poll() is not None:
                    break
                subprocess.run(["paplay", "--device=demo", str(clip)], env=env, check=True, timeout=60)
                if i < len(clips) - 1:
                    time.sleep(args.gap)
            code = run.wait(timeout=seconds + 120)
        finally:
            keepalive.terminate()
            keepalive.wait(timeout=10)
            subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)
    if code != 0:
        print(f"live demo: edgefusion run exited {code}", file=sys.stderr)
        return 1
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    print(report(events, clips))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
