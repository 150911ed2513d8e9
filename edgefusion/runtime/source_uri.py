"""What every live input shares: its URI (scheme, rest), the one-line error a bad one gets, time slack."""

from __future__ import annotations

from edgefusion.errors import EdgefusionError

TIME_EPS = 1e-6  # slack when turning clock times into sample/frame counts
ENDED_GRACE_SECONDS = 0.05  # a file's last window still counts as live this long after its end
AUDIO_SCHEMES = "mic://default, mic://N, mic://NAME, file://clip.wav or none"
VIDEO_SCHEMES = "camera://N, v4l2:///dev/videoN, csi://N, gst://PIPELINE, file://clip.mp4 or none"
# the schemes each opener takes, by the kind of source
KNOWN_SCHEMES = {"audio": ("none", "mic", "file"), "video": ("none", "file", "camera", "v4l2", "csi", "gst")}


class SourceError(EdgefusionError):
    """An input that cannot be opened as named; ``str(err)`` is one line naming the URI."""


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def source_error(uri: str, problem: object) -> SourceError:
    return SourceError(f"{uri}: {one_line(problem)}")


def split_uri(uri: str) -> tuple[str, str]:
    """``(scheme, rest)`` of a source URI; ``"none"`` -> ``("none", "")``; a bare path -> ``("file", path)``."""
    text = uri.strip()
    if text.lower() == "none":
        return "none", ""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "file", text
    return scheme.lower(), rest


def check_scheme(uri: str, kind: str) -> str:
    """``uri``'s scheme, or a one-line ``SourceError`` when the ``kind`` ("audio"/"video") opener lacks it."""
    scheme, _ = split_uri(uri)
    if scheme not in KNOWN_SCHEMES[kind]:
        raise source_error(
            uri, f"unknown {kind} source scheme {scheme!r}: use {AUDIO_SCHEMES if kind == 'audio' else VIDEO_SCHEMES}"
        )
    return scheme
