"""Where events go: a live terminal view, a JSONL file, a video file or window with an overlay."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edgefusion.errors import EdgefusionError, located, require_writable
from edgefusion.runtime.pipeline import Event

LATENCY_SHOWN = ("audio_age", "frame_age", "vad", "preprocess", "inference", "postprocess", "total")
BAR_WIDTH = 30
OVERLAY_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


class JsonlSink:
    """One JSON object per event and line, flushed as it goes (a crash loses nothing written)."""

    def __init__(self, path: Path) -> None:
        require_writable(path)
        self.path = path
        self.file: IO[str] | None = path.open("w")

    def emit(self, event: Event) -> None:
        assert self.file is not None
        self.file.write(json.dumps(event.to_dict()) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class PrintSink:
    """One plain line per event (for logs, pipes and `make demo`)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def emit(self, event: Event) -> None:
        lat = event.latency_ms
        present = "+".join(k for k, v in event.present.items() if v) or "nothing"
        decision = f"{event.label} {event.probs[event.label]:.2f}" if event.label is not None else f"({event.status})"
        speech = "" if event.speech is None else f" speech {event.speech:.2f}"
        self.console.print(
            f"t={event.t:6.2f}s {decision:<11} [{present}]{speech}{adaptation_note(event)} "
            f"infer {_ms(lat.get('inference'))} ms, pipeline {lat['pipeline']:.2f} ms, skipped {event.skipped}"
            + (f", lost {event.lost}" if event.lost else ""),
            highlight=False,
        )

    def close(self) -> None:
        pass


class TerminalSink:
    """A live view: the label, a bar per class, latency per stage, skipped hops, overflows."""

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.live = Live(Text("waiting for the first hop..."), console=console, refresh_per_second=8, transient=False)
        self.live.start()

    def render(self, event: Event) -> Group:
        bars = Table.grid(padding=(0, 1))
        for name, p in event.probs.items():
            filled = round(p * BAR_WIDTH)
            style = "bold green" if name == event.label else ""
            bars.add_row(name, Text("#" * filled + "." * (BAR_WIDTH - filled), style=style), f"{p:.2f}")
        lat = Table(show_header=True, box=None)
        for stage in LATENCY_SHOWN:
            lat.add_column(stage, justify="right")
        lat.add_row(*(_ms(event.latency_ms.get(s)) for s in LATENCY_SHOWN))
        present = ", ".join(k for k, v in event.present.items() if v) or "nothing"
        speech = "" if event.speech is None else f"  speech: {event.speech:.2f}"
        head = Text.assemble(
            (f"{self.title}  ", "bold"),
            (event.status, "bold green" if event.label is not None else "dim"),
            f"  t={event.t:.1f}s  live: {present}{speech}{adaptation_note(event)}  skipped hops: {event.skipped}"
            f"  overflows: {event.overflows}" + (f"  lost to the server: {event.lost}" if event.lost else ""),
        )
        return Group(head, bars, Text("latency (ms)"), lat)

    def emit(self, event: Event) -> None:
        self.live.update(self.render(event))

    def close(self) -> None:
        self.live.stop()
        if not self.live.console.is_terminal:  # piped, the last view ends without its newline
            self.live.console.line()


def adaptation_note(event: Event) -> str:
    """ " adapt 3/8" while speaker adaptation warms up, " adapted" once it centres, "" when off."""
    if event.adaptation is None:
        return ""
    count, needed = event.adaptation
    return " adapted" if count >= needed else f" adapt {count}/{needed}"


def _ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1f}"


def draw_overlay(frame: np.ndarray, event: Event) -> np.ndarray:
    """The frame with the face box, the label and a bar per class drawn on it (a copy)."""
    import cv2

    img = frame.copy()
    if event.box is not None:
        x, y, w, h = event.box
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
        cv2.putText(img, event.status, (x, max(0, y - 8)), OVERLAY_FONT, 0.8, (0, 255, 0), 2)
    for i, (name, p) in enumerate(event.probs.items()):
        y0 = 20 + 18 * i
        cv2.rectangle(img, (10, y0 - 10), (10 + int(120 * p), y0 + 4), (0, 200, 255), -1)
        cv2.putText(img, f"{name} {p:.2f}", (140, y0 + 2), OVERLAY_FONT, 0.45, (255, 255, 255), 1)
    return img


class VideoSink:
    """Writes the newest frame of every event, with the overlay, to an mp4v file at 1/hop fps."""

    def __init__(self, path: Path, hop: float) -> None:
        require_writable(path)
        self.path, self.fps = path, 1.0 / hop
        self.writer: Any = None
        self.frames = 0

    def emit(self, event: Event) -> None:
        import cv2

        if event.frame is None:
            return
        img = draw_overlay(event.frame, event)
        if self.writer is None:
            h, w = img.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise EdgefusionError(located(self.path, "OpenCV cannot write an mp4v video here"))
        self.writer.write(img)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None


class OverlayWindow:
    """Shows the overlay in an OpenCV window (needs a display)."""

    NAME = "edgefusion"

    def __init__(self) -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise EdgefusionError("--overlay needs a display (DISPLAY is not set); use --save-video instead")

    def emit(self, event: Event) -> None:
        import cv2

        if event.frame is not None:
            cv2.imshow(self.NAME, draw_overlay(event.frame, event))
            cv2.waitKey(1)

    def close(self) -> None:
        import cv2

        cv2.destroyAllWindows()
