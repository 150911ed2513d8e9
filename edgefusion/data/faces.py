"""Finding and cropping faces with OpenCV's Haar cascade.

``FaceDetector`` is built once and called per frame (offline over video files, or live from a
camera thread); it keeps no state between calls. Detection runs on a small grayscale copy of
the frame, histogram-equalised with a contrast limit, and boxes come back in full-frame pixels.
``crop_face`` cuts the square, margin-padded crop the model sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgefusion.config import FRAME_SIZE
from edgefusion.errors import EdgefusionError

CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_WIDTH = 320  # longest side of the frame the cascade runs on, pixels
SCALE_FACTOR = 1.1  # cascade pyramid step
MIN_NEIGHBORS = 5  # overlapping hits needed to keep a detection
# A detection with fewer hits than this fraction of the frame's best-supported one is dropped as
# a false alarm (on skimage's astronaut at 320 px: face 48 hits, a patch of background 6).
MIN_RELATIVE_SUPPORT = 0.25
MIN_FACE = 24  # smallest face searched for, pixels of the downscaled frame (the cascade's size)
# Contrast-limited global histogram equalisation (CLAHE over one tile). Plain equalizeHist lets a
# large plain background (a wall, a studio backdrop) own the histogram and crush the face's tones.
EQ_CLIP_LIMIT = 2.0
EQ_TILES = (1, 1)
CROP_MARGIN = 0.25  # crop side = max(w, h) * (1 + margin)
INSTALL_HINT = "install opencv-python<5 (OpenCV 5 ships no Haar cascades)"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner (x, y), width w, height h."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        """(cx, cy) in pixels."""
        return (self.x + self.w / 2, self.y + self.h / 2)

    def scaled(self, factor: float) -> Box:
        """The same box in an image resized by ``factor`` (rounded to whole pixels)."""
        return Box(*(round(v * factor) for v in (self.x, self.y, self.w, self.h)))


def _load_cascade(cascade_path: str | Path | None) -> cv2.CascadeClassifier:
    """The frontal-face cascade; ``EdgefusionError`` when this OpenCV has none."""
    classifier = getattr(cv2, "CascadeClassifier", None)
    if classifier is None:
        version = getattr(cv2, "__version__", "?")
        raise EdgefusionError(f"OpenCV {version} has no CascadeClassifier: {INSTALL_HINT}")
    if cascade_path is None:
        cascade_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if not cascade_dir:
            raise EdgefusionError(f"this OpenCV ships no Haar cascades (cv2.data): {INSTALL_HINT}")
        cascade_path = Path(cascade_dir) / CASCADE_FILE
    cascade_path = Path(cascade_path)
    if not cascade_path.is_file():
        raise EdgefusionError(f"{cascade_path}: Haar cascade file not found: {INSTALL_HINT}")
    try:
        cascade = classifier(str(cascade_path))
    except (cv2.error, SystemError):  # a malformed file raises from inside the constructor
        cascade = None
    if cascade is None or cascade.empty():
        raise EdgefusionError(f"{cascade_path}: not a loadable Haar cascade: {INSTALL_HINT}")
    return cascade


class FaceDetector:
    """Frontal faces in BGR frames, largest first.

    ``detect_width``: the longest side (pixels) the frame is shrunk to before the cascade runs;
    faces smaller than ``min_face`` pixels at that size are not searched for. ``equalize``:
    contrast-limited histogram equalisation of the gray frame (see ``EQ_CLIP_LIMIT``).

    Construct once and reuse: the cascade is loaded in ``__init__``; ``detect`` holds no state,
    though one instance should not be shared across threads at the same moment.
    """

    def __init__(
        self,
        detect_width: int = DETECT_WIDTH,
        min_neighbors: int = MIN_NEIGHBORS,
        scale_factor: float = SCALE_FACTOR,
        min_face: int = MIN_FACE,
        equalize: bool = True,
        cascade_path: str | Path | None = None,
    ) -> None:
        self.detect_width = detect_width
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor
        self.min_face = min_face
        self._equalizer = cv2.createCLAHE(EQ_CLIP_LIMIT, EQ_TILES) if equalize else None
        self._cascade = _load_cascade(cascade_path)

    def _prepare(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Grayscale, downscaled (and equalised) uint8 [h, w], and the scale applied (<= 1)."""
        if frame.ndim == 3:
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        elif frame.ndim == 2:
            gray = frame
        else:
            raise ValueError(f"expected a BGR [H, W, 3] or gray [H, W] frame, got {frame.shape}")
        scale = min(1.0, self.detect_width / max(gray.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        return (gray if self._equalizer is None else self._equalizer.apply(gray)), scale

    def detect(self, frame_bgr: np.ndarray) -> list[Box]:
        """Faces in ``frame_bgr`` (uint8 [H, W, 3] BGR, or [H, W] gray), largest area first.

        Boxes are in the full frame's pixel coordinates, clipped to the frame. Detections with
        much less support than the frame's best one are dropped (``MIN_RELATIVE_SUPPORT``).
        """
        frame_bgr = np.asarray(frame_bgr)
        small, scale = self._prepare(frame_bgr)
        found, hits = self._cascade.detectMultiScale2(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        found = np.asarray(found, dtype=np.float64).reshape(-1, 4) / scale  # [K, 4] full-frame
        hits = np.asarray(hits, dtype=np.float64).reshape(-1)  # [K]
        if len(hits):
            found = found[hits >= MIN_RELATIVE_SUPPORT * hits.max()]
        height, width = frame_bgr.shape[:2]
        boxes = []
        for x, y, w, h in found:
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(height, round(y + h))
            if x1 > x0 and y1 > y0:
                boxes.append(Box(x0, y0, x1 - x0, y1 - y0))
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def largest(self, frame_bgr: np.ndarray) -> Box | None:
        """The largest face in the frame, or None."""
        boxes = self.detect(frame_bgr)
        return boxes[0] if boxes else None


def crop_face(frame_bgr: np.ndarray, box: Box, size: int = FRAME_SIZE, margin: float = CROP_MARGIN) -> np.ndarray:
    """A square face crop, uint8 [size, size, 3] BGR.

    The square is centred on ``box`` with side ``max(w, h) * (1 + margin)``; where it runs off
    the frame the edge pixels are replicated. Resized with ``INTER_AREA``.
    """
    height, width = frame_bgr.shape[:2]
    side = max(1, round(max(box.w, box.h) * (1 + margin)))
    cx, cy = box.center
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    if x0 >= 0 and y0 >= 0 and x0 + side <= width and y0 + side <= height:
        patch = frame_bgr[y0 : y0 + side, x0 : x0 + side]
    else:  # replicate-pad: clamp every row and column index into the frame
        rows = np.clip(np.arange(y0, y0 + side), 0, height - 1)
        cols = np.clip(np.arange(x0, x0 + side), 0, width - 1)
        patch = frame_bgr[np.ix_(rows, cols)]
    crop = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop, dtype=np.uint8)
