"""Face detection, cropping and face tracks from video, on a real photograph and real mp4 files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from edgefusion.data.faces import Box, FaceDetector, crop_face
from edgefusion.data.video import FaceTrack, read_face_crops, select_frames
from edgefusion.errors import DataError, EdgefusionError

# skimage's astronaut (512 x 512): the face, checked by eye, spans about x 175-272, y 55-165.
FACE_CENTER = (223.0, 113.0)
# The test video: the astronaut, shrunk, slides right across a plain gray backdrop (a studio
# wall, the case plain histogram equalisation gets wrong); frames BLANK show the backdrop only.
CANVAS_W, CANVAS_H, PHOTO_SIDE = 480, 320, 256
VIDEO_FPS, VIDEO_FRAMES = 15, 30
BLANK = range(12, 18)
BACKDROP = 127


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """uint8 [512, 512, 3] BGR."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def photo_left(i: int) -> int:
    """Left edge (pixels) of the photo in frame ``i`` of the test video."""
    return round(i * (CANVAS_W - PHOTO_SIDE) / (VIDEO_FRAMES - 1))


def true_center(i: int) -> tuple[float, float]:
    """Where the face centre is in frame ``i`` of the test video."""
    scale = PHOTO_SIDE / 512
    top = (CANVAS_H - PHOTO_SIDE) // 2
    return photo_left(i) + FACE_CENTER[0] * scale, top + FACE_CENTER[1] * scale


def write_video(path: Path, frames: list[np.ndarray], fps: float = VIDEO_FPS) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def moving_face_video(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    photo = cv2.resize(astronaut, (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_AREA)
    top = (CANVAS_H - PHOTO_SIDE) // 2
    frames = []
    for i in range(VIDEO_FRAMES):
        canvas = np.full((CANVAS_H, CANVAS_W, 3), BACKDROP, np.uint8)
        if i not in BLANK:
            canvas[top : top + PHOTO_SIDE, photo_left(i) : photo_left(i) + PHOTO_SIDE] = photo
        frames.append(canvas)
    return write_video(tmp_path_factory.mktemp("video") / "moving.mp4", frames)


@pytest.fixture(scope="module")
def track(moving_face_video: Path, detector: FaceDetector) -> FaceTrack:
    return read_face_crops(moving_face_video, detector=detector, fps=None)


# ---- still photograph ------------------------------------------------------------------------


def test_detector_finds_the_astronauts_face(detector: FaceDetector, astronaut: np.ndarray) -> None:
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1  # the shuttle's weak false alarm is dropped
    cx, cy = boxes[0].center
    assert abs(cx - FACE_CENTER[0]) < 15 and abs(cy - FACE_CENTER[1]) < 15
    assert 70 <= boxes[0].w <= 130


def test_boxes_are_in_full_frame_pixels(astronaut: np.ndarray) -> None:
    """Detection on a shrunk copy maps back to the same place as detection at full size."""
    full = FaceDetector(detect_width=512).detect(astronaut)[0]
    small = FaceDetector(detect_width=256).detect(astronaut)[0]
    assert np.allclose(full.center, small.center, atol=10)
    assert abs(full.w - small.w) < 20


def test_no_face_in_plain_frames(detector: FaceDetector) -> None:
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert detector.detect(np.full((480, 640, 3), BACKDROP, np.uint8)) == []
    assert detector.detect(gradient) == []
    assert detector.largest(np.zeros((120, 160, 3), np.uint8)) is None


def test_crop_face_is_the_face(detector: FaceDetector, astronaut: np.ndarray) -> None:
    crop = crop_face(astronaut, detector.detect(astronaut)[0])
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    assert crop.flags.c_contiguous
    assert detector.detect(crop), "the crop should still show a detectable face"


def test_box_helpers() -> None:
    box = Box(10, 20, 30, 40)
    assert box.area == 1200
    assert box.center == (25.0, 40.0)
    assert box.scaled(0.5) == Box(5, 10, 15, 20)


def coordinate_frame(height: int = 200, width: int = 200) -> np.ndarray:
    """uint8 [H, W, 3] whose channel 0 is the column index and channel 1 the row index."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols, rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def test_crop_face_geometry_inside_the_frame() -> None:
    # side = 40 * 1.25 = 50, centred on (70, 80): columns 45..94, rows 55..104; size 50 = no resize
    crop = crop_face(coordinate_frame(), Box(50, 60, 40, 40), size=50, margin=0.25)
    np.testing.assert_array_equal(crop[0, :, 0], np.arange(45, 95))
    np.testing.assert_array_equal(crop[:, 0, 1], np.arange(55, 105))


def test_crop_face_replicates_edges_off_the_frame() -> None:
    # centred on (20, 20) with side 50: columns and rows -5..44, the first five repeat index 0
    crop = crop_face(coordinate_frame(), Box(0, 0, 40, 40), size=50, margin=0.25)
    np.testing.assert_array_equal(crop[0, :, 0], np.r_[np.zeros(5), np.arange(0, 45)])
    np.testing.assert_array_equal(crop[:, 0, 1], np.r_[np.zeros(5), np.arange(0, 45)])
    # a box hanging off the bottom-right corner
    crop = crop_face(coordinate_frame(), Box(180, 190, 40, 40), size=50, margin=0.25)
    assert crop[-1, -1, 0] == 199 and crop[-1, -1, 1] == 199


# ---- video -----------------------------------------------------------------------------------


def frame_index(t: float) -> int:
    return round(t * VIDEO_FPS)


def test_track_finds_the_face_in_most_frames(track: FaceTrack) -> None:
    n = len(track.crops)
    assert track.frames_read == VIDEO_FRAMES
    assert track.duration == pytest.approx(VIDEO_FRAMES / VIDEO_FPS, abs=1e-3)
    assert track.frames_with_face == n == len(track.times) == len(track.boxes)
    assert n >= 0.8 * (VIDEO_FRAMES - len(BLANK))
    assert track.crops.shape == (n, 112, 112, 3) and track.crops.dtype == np.uint8
    assert track.times.dtype == np.float32
    assert np.all(np.diff(track.times) > 0)
    assert not any(frame_index(t) in BLANK for t in track.times)


def test_track_boxes_follow_the_motion(track: FaceTrack) -> None:
    centers = track.boxes[:, :2] + track.boxes[:, 2:] / 2  # [N, 2]
    truth = np.array([true_center(frame_index(t)) for t in track.times])  # [N, 2]
    assert np.abs(centers - truth).max() < 8
    assert centers[-1, 0] - centers[0, 0] > 150  # it really moved


def test_sampling_rate(moving_face_video: Path, detector: FaceDetector) -> None:
    sampled = read_face_crops(moving_face_video, size=64, detector=detector, fps=5.0)
    assert sampled.frames_read == 10  # 2 s at 5 per second
    assert sampled.crops.shape[1:] == (64, 64, 3)
    assert np.all(np.diff(sampled.times) >= 0.2 - 1e-6)


def test_video_without_faces_gives_an_empty_track(tmp_path: Path, detector: FaceDetector) -> None:
    blank = [np.full((120, 160, 3), BACKDROP, np.uint8)] * 5
    empty = read_face_crops(write_video(tmp_path / "blank.mp4", blank), detector=detector)
    assert empty.crops.shape == (0, 112, 112, 3)
    assert empty.frames_with_face == 0 and empty.frames_read >= 1
    assert select_frames(empty, 0.0, 2.0, 4) is None


def test_select_frames_on_the_track(track: FaceTrack) -> None:
    frames = select_frames(track, 0.0, 2.0, 4)
    assert frames is not None and frames.shape == (4, 112, 112, 3) and frames.dtype == np.uint8
    assert select_frames(track, 10.0, 12.0, 4) is None  # more than a second past the last crop


def labelled_track(times: list[float]) -> FaceTrack:
    """A track whose crop k is filled with the value k, so picks can be read back."""
    crops = np.stack([np.full((8, 8, 3), k, np.uint8) for k in range(len(times))])
    return FaceTrack(crops, np.asarray(times, np.float32), len(times), len(times), max(times))


def test_select_frames_picks_nearest_and_repeats() -> None:
    track = labelled_track([0.0, 0.5, 1.0, 1.5])
    # span [0, 2), targets at 0.25, 0.75, 1.25, 1.75 -> ties go to the earlier crop
    assert select_frames(track, 0.0, 2.0, 4)[:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    # eight targets (0.125, 0.375, ..., 1.875), four crops: crops repeat
    assert select_frames(track, 0.0, 2.0, 8)[:, 0, 0, 0].tolist() == [0, 1, 1, 2, 2, 3, 3, 3]
    # one crop stands for a whole window
    assert select_frames(labelled_track([0.7]), 0.0, 2.0, 4)[:, 0, 0, 0].tolist() == [0] * 4
    # a span just past the last crop is still "near" (within one second)
    assert select_frames(track, 2.0, 2.4, 2)[:, 0, 0, 0].tolist() == [3, 3]
    assert select_frames(track, 2.6, 3.0, 2) is None
    assert select_frames(track, -3.0, -1.1, 2) is None


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        ("missing.mp4", None, "no such file"),
        ("notes.mp4", b"this is a text file, not a video\n" * 50, "OpenCV cannot open it"),
        ("empty.mp4", b"", "empty file"),
    ],
)
def test_bad_videos_raise_one_line_data_error(
    tmp_path: Path, detector: FaceDetector, name: str, content: bytes | None, phrase: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_face_crops(path, detector=detector)
    msg = str(err.value)
    assert name in msg and phrase in msg and "\n" not in msg


def test_missing_cascade_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(EdgefusionError, match=r"opencv-python<5"):
        FaceDetector(cascade_path=tmp_path / "haarcascade_frontalface_default.xml")
    (tmp_path / "broken.xml").write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(EdgefusionError, match=r"broken\.xml"):
        FaceDetector(cascade_path=tmp_path / "broken.xml")
