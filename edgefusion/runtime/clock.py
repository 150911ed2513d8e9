"""Time for the streaming runtime: the wall clock live, a manual clock for ``--fast`` replays.

Sources and the pipeline read time only through a ``Clock``. Live, that is the monotonic
wall clock. With ``--fast`` the pipeline advances a ``ManualClock`` hop by hop and file
sources deliver exactly what a real-time replay would have delivered by then, so a replay
gives the same events at any speed, deterministically.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the clock started."""

    realtime = True

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            time.sleep(delay)


class ManualClock(Clock):
    """A clock that moves only when told to (``advance_to``); ``sleep_until`` advances it."""

    realtime = False

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance_to(self, t: float) -> None:
        with self._lock:
            self._now = max(self._now, t)

    def sleep_until(self, t: float) -> None:
        self.advance_to(t)
