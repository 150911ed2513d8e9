"""Live inputs named as URIs: microphones, audio files, cameras and video files.

One way to open any input, after jetson-inference's ``videoSource`` URIs::

    audio = open_audio("mic://default", clock)       # or mic://2, mic://USB, file://clip.wav, none
    video = open_video("camera://0", clock)          # or v4l2:///dev/video0, csi://0, gst://..., file://clip.mp4, none
    with audio, video:                                # start() ... stop()
        snap = audio.snapshot(32000)                  # the newest 2 s at 16 kHz, its age, live or not
        frame = video.latest()                        # the newest frame only, or None

A path without a scheme is a file (``clip.wav`` = ``file://clip.wav``). A bad URI (unknown
scheme, missing file, absent device, camera that does not open) raises a one-line ``SourceError``
at ``open_*`` or ``start()``, before the run; a device that fails DURING the run is counted
(``errors``), reported (``live=False`` / ``latest() is None``) and, for microphones, reopened,
while the run goes on.

Time comes only from the ``Clock``. With a real-time clock, file replays are fed by threads at
the file's own pace, as a device would deliver them. With a ``ManualClock`` they use no thread:
each ``snapshot`` / ``latest`` first delivers exactly what a real-time replay would have
delivered by ``clock.now()``, so a replay is deterministic at any speed.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from edgefusion.config import SAMPLE_RATE
from edgefusion.runtime.audio_sources import RING_SECONDS, AudioSource, FileAudioSource, MicSource, mic_device
from edgefusion.runtime.clock import Clock
from edgefusion.runtime.source_uri import check_scheme, source_error, split_uri
from edgefusion.runtime.video_sources import (
    CaptureVideoSource,
    FileVideoSource,
    VideoSource,
    csi_source,
    require_gstreamer,
)


def open_audio(
    uri: str, clock: Clock, sample_rate: int = SAMPLE_RATE, *, ring_seconds: float = RING_SECONDS
) -> AudioSource | None:
    """The audio input named by ``uri`` (not started), or None for ``none``.

    ``mic://default``, ``mic://N`` (a PortAudio device index), ``mic://NAME`` (a device-name
    substring) -> ``MicSource``; ``file://clip.wav`` or a bare path (any format libsndfile
    reads, downmixed and resampled to ``sample_rate``) -> ``FileAudioSource``. ``SourceError``
    (one line) for an unknown scheme, a missing or unreadable file, an absent device.
    """
    scheme, rest = check_scheme(uri, "audio"), split_uri(uri)[1]  # an unknown scheme raises here
    if scheme == "none":
        return None
    if scheme == "mic":
        return MicSource(mic_device(rest), clock, sample_rate, uri=uri, ring_seconds=ring_seconds)
    return FileAudioSource(rest, clock, sample_rate, uri=uri, ring_seconds=ring_seconds)  # file


def open_video(uri: str, clock: Clock) -> VideoSource | None:
    """The video input named by ``uri`` (not started), or None for ``none``.

    ``camera://N`` (``cv2.VideoCapture(N)``), ``v4l2:///dev/videoN`` (the V4L2 backend),
    ``csi://N`` (a Jetson CSI camera through ``csi_pipeline``), ``gst://PIPELINE`` (any
    GStreamer pipeline ending in an appsink), ``file://clip.mp4`` or a bare path (replayed at
    its own fps). ``SourceError`` (one line) for an unknown scheme, a missing file or device
    node, GStreamer URIs on an OpenCV without GStreamer; a camera that does not open raises it
    at ``start()``.
    """
    scheme, rest = check_scheme(uri, "video"), split_uri(uri)[1]  # an unknown scheme raises here
    if scheme == "none":
        return None
    if scheme == "file":
        return FileVideoSource(rest, clock, uri=uri)
    if scheme == "camera":
        if not rest.strip("/").isdigit():
            raise source_error(uri, "expected camera://N with N a camera index")
        return CaptureVideoSource(uri, clock, int(rest.strip("/")), cv2.CAP_ANY, "camera")
    if scheme == "v4l2":
        if not Path(rest).exists():
            raise source_error(uri, f"no such V4L2 device node {rest!r}")
        return CaptureVideoSource(uri, clock, rest, cv2.CAP_V4L2, "V4L2 camera")
    if scheme == "csi":
        return csi_source(uri, rest, clock)
    if not rest.strip():  # gst: check_scheme left no other
        raise source_error(uri, "empty GStreamer pipeline")
    require_gstreamer(uri)
    return CaptureVideoSource(uri, clock, rest, cv2.CAP_GSTREAMER, "GStreamer pipeline")
