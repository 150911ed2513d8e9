"""Face tracking on real video: a real photograph moving across mp4 files, replayed as a camera."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from edgefusion.data.faces import Box, FaceDetector, crop_face
from edgefusion.data.video import pick_frames
from edgefusion.runtime.clock import Clock, ManualClock
from edgefusion.runtime.face_stage import FaceStage, FaceThread, iou
from edgefusion.runtime.sources import open_video
from edgefusion.runtime.video_sources import Frame

# skimage's astronaut (512 x 512): the face, checked by eye, spans about x 175-272, y 55-165.
FACE_CENTER = (223.0, 113.0)
BACKDROP = 127
# The tracking video: the astronaut, shrunk, slides right over a gray backdrop; it leaves for the
# frames in GONE (longer than the tracker's hold) and comes back.
CANVAS_W, CANVAS_H, PHOTO_SIDE = 480, 320, 256
VIDEO_FPS, VIDEO_FRAMES = 15, 40
GONE = range(20, 30)
HOLD = 5
CENTER_TOLERANCE = 12.0  # pixels between the tracked box's centre and the true face centre
MIN_FOUND = 0.8  # fraction of face frames in which the face must be detected
# The two-face video: a large and a small astronaut side by side, no downscaling for detection.
PAIR_W, PAIR_H, BIG, SMALL, GAP = 640, 360, 300, 200, 40


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """uint8 [512, 512, 3] BGR."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def photo_left(i: int) -> int:
    """Left edge (pixels) of the photo in frame ``i`` of the tracking video."""
    return round(i * (CANVAS_W - PHOTO_SIDE) / (VIDEO_FRAMES - 1))


def true_center(i: int) -> tuple[float, float]:
    """The face centre in frame ``i`` of the tracking video."""
    scale = PHOTO_SIDE / 512
    return photo_left(i) + FACE_CENTER[0] * scale, (CANVAS_H - PHOTO_SIDE) // 2 + FACE_CENTER[1] * scale


def write_video(path: Path, frames: list[np.ndarray], fps: float = VIDEO_FPS) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def paste(canvas: np.ndarray, photo: np.ndarray, left: int, top: int) -> None:
    canvas[top : top + photo.shape[0], left : left + photo.shape[1]] = photo


@pytest.fixture(scope="module")
def moving_face_video(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    photo = cv2.resize(astronaut, (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(VIDEO_FRAMES):
        canvas = np.full((CANVAS_H, CANVAS_W, 3), BACKDROP, np.uint8)
        if i not in GONE:
            paste(canvas, photo, photo_left(i), (CANVAS_H - PHOTO_SIDE) // 2)
        frames.append(canvas)
    return write_video(tmp_path_factory.mktemp("faces") / "moving.mp4", frames)


def replay(path: Path, stage: FaceStage) -> list[tuple[Frame, Box | None, bool, np.ndarray | None]]:
    """Every frame of ``path`` through ``stage`` with a ManualClock: (frame, box, detected, crops).

    Each frame's crops must be those the windowing rule (``pick_frames``, as training and eval
    choose them) picks from the crops of the frames tracked since the face was last lost."""
    clock = ManualClock()
    out = []
    times: list[float] = []
    history: list[np.ndarray] = []
    with open_video(f"file://{path}", clock) as video:
        i = 0
        while True:
            clock.advance_to(i / video.fps)
            frame = video.latest()
            if video.ended:
                break
            assert frame is not None and frame.index == i
            detections = stage.detections
            box = stage.update(frame)
            crops, crop_box, age = stage.crops(clock.now(), max_age=0.5)
            assert crop_box == box
            assert crops is None or age == pytest.approx(0.0)
            if box is None:
                times, history = [], []
            else:
                times.append(frame.t)
                history.append(crop_face(frame.image, box, stage.size))
                want = pick_frames(np.array(times), np.stack(history), frame.t - stage.window_seconds, frame.t, 4)
                assert crops is not None and want is not None
                np.testing.assert_array_equal(crops, want)
            out.append((frame, box, stage.detections > detections, crops))
            i += 1
    return out


def test_iou() -> None:
    a = Box(0, 0, 10, 10)
    assert iou(a, a) == 1.0
    assert iou(a, Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(a, Box(20, 20, 5, 5)) == 0.0


def test_the_face_is_tracked_across_a_moving_video(moving_face_video: Path) -> None:
    stage = FaceStage(frames=4, size=112, detect_width=320, hold_frames=HOLD)
    results = replay(moving_face_video, stage)
    assert len(results) == VIDEO_FRAMES
    face_frames = [i for i in range(VIDEO_FRAMES) if i not in GONE]
    found = [i for i in face_frames if results[i][2]]
    assert len(found) >= MIN_FOUND * len(face_frames), f"face found in {len(found)} of {len(face_frames)} frames"
    for i in found:
        _, box, _, crops = results[i]
        cx, cy = box.center
        tx, ty = true_center(i)
        assert math.hypot(cx - tx, cy - ty) <= CENTER_TOLERANCE, (i, box, (tx, ty))
        assert crops is not None and crops.shape == (4, 112, 112, 3) and crops.dtype == np.uint8
        # spread across the 2 s window (as training sees them), not the last four frames
        if 15 <= i < GONE.start:  # a second of track: the first crop is a second older than the last
            assert not np.array_equal(crops[0], crops[-1])
    # the box moves right with the photo (about 5.5 px a frame)
    xs = [results[i][1].center[0] for i in found if i < GONE.start]
    assert xs[-1] - xs[0] > 0.7 * (photo_left(GONE.start - 1) - photo_left(0))


def test_the_tracker_holds_a_lost_face_then_lets_go(moving_face_video: Path) -> None:
    stage = FaceStage(hold_frames=HOLD)
    results = replay(moving_face_video, stage)
    last_box = results[GONE.start - 1][1]
    assert last_box is not None
    for j, i in enumerate(GONE):
        _, box, detected, crops = results[i]
        assert not detected
        if j < HOLD:  # held: the last box, cropped from the current (empty) frame
            assert box == last_box and crops is not None
            if j == HOLD - 1:  # the last target (0.25 s back) is the first frame without the face
                assert crops[-1].std() < 3  # a crop of the plain backdrop
        else:  # lost: no face, no crops
            assert box is None and crops is None, i
    # back: a new track whose ring starts afresh (the first crop repeated, no stale face)
    back = next(i for i in range(GONE.stop, VIDEO_FRAMES) if results[i][2])
    crops = results[back][3]
    assert crops is not None
    for k in range(1, len(crops)):
        np.testing.assert_array_equal(crops[k], crops[0])


def test_crops_are_none_when_too_old(moving_face_video: Path) -> None:
    stage = FaceStage()
    clock = ManualClock()
    with open_video(f"file://{moving_face_video}", clock) as video:
        frame = video.latest()
        assert stage.update(frame) is not None
    crops, box, age = stage.crops(now=1.0, max_age=0.5)
    assert crops is None and box is not None and age == pytest.approx(1.0)
    crops, _, _ = stage.crops(now=0.4, max_age=0.5)
    assert crops is not None and crops.shape == (4, 112, 112, 3)
    assert all(np.array_equal(crops[k], crops[0]) for k in range(4))  # one crop so far, repeated


@pytest.fixture(scope="module")
def two_faces_video(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """Frames 0-4: the small astronaut alone; 5-9: a larger one appears on its left."""
    big = cv2.resize(astronaut, (BIG, BIG), interpolation=cv2.INTER_AREA)
    small = cv2.resize(astronaut, (SMALL, SMALL), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(10):
        canvas = np.full((PAIR_H, PAIR_W, 3), BACKDROP, np.uint8)
        paste(canvas, small, 10 + BIG + GAP, (PAIR_H - SMALL) // 2)
        if i >= 5:
            paste(canvas, big, 10, (PAIR_H - BIG) // 2)
        frames.append(canvas)
    return write_video(tmp_path_factory.mktemp("faces") / "two.mp4", frames)


def test_with_several_faces_the_tracked_one_wins(two_faces_video: Path) -> None:
    small_x = 10 + BIG + GAP + FACE_CENTER[0] * SMALL / 512
    big_x = 10 + FACE_CENTER[0] * BIG / 512
    tracked = replay(two_faces_video, FaceStage(detect_width=PAIR_W))
    fresh = FaceStage(detect_width=PAIR_W)
    both = [fresh.detector.detect(f.image) for f, *_ in tracked[5:]]
    assert all(len(boxes) == 2 for boxes in both)  # the detector does see both faces
    for i, (_, box, detected, _) in enumerate(tracked):
        assert detected and abs(box.center[0] - small_x) < CENTER_TOLERANCE, i  # stays on the small face
    # with no track to follow, the largest face is chosen
    frame = tracked[7][0]
    assert abs(fresh.update(frame).center[0] - big_x) < CENTER_TOLERANCE


def test_face_thread_with_a_manual_clock_sees_every_frame(moving_face_video: Path) -> None:
    clock = ManualClock()
    with open_video(f"file://{moving_face_video}", clock) as video:
        faces = FaceThread(video, FaceStage(), clock)
        faces.start()  # no thread with a ManualClock: snapshot() does the work
        assert faces.poll() == 1 and faces.poll() == 0  # frame 0, once
        clock.advance_to(5 / VIDEO_FPS)
        crops, box, age, frame = faces.snapshot(clock.now())
        assert faces.frames_processed == 6  # frames 1-5 too, none skipped
        assert frame.index == 5 and age == pytest.approx(0.0) and box is not None
        # crops across the 2 s window ending at 0.33 s: the targets at -1.42, -0.92 and -0.42 s
        # take frame 0 (the nearest), the one at 0.08 s frame 1 (0.07 s)
        assert crops.shape == (4, 112, 112, 3)
        assert all(np.array_equal(crops[k], crops[0]) for k in range(3))
        assert not np.array_equal(crops[3], crops[0])
        faces.stop()


def _final_crops(path: Path, hops: list[float]) -> tuple[np.ndarray, int]:
    clock = ManualClock()
    with open_video(f"file://{path}", clock) as video:
        faces = FaceThread(video, FaceStage(), clock)
        for t in hops:
            clock.advance_to(t)
            crops, _, _, _ = faces.snapshot(clock.now())
        return crops, faces.frames_processed


def test_face_thread_replays_are_the_same_at_any_hop(moving_face_video: Path) -> None:
    """Hop after hop or in one jump, the tracker sees the same frames and ends with the same crops."""
    fine, n_fine = _final_crops(moving_face_video, [i / VIDEO_FPS for i in range(19)])
    coarse, n_coarse = _final_crops(moving_face_video, [0.4, 18 / VIDEO_FPS])
    assert n_fine == n_coarse == 19
    np.testing.assert_array_equal(fine, coarse)
    newest_alone, _ = _final_crops(moving_face_video, [18 / VIDEO_FPS])
    np.testing.assert_array_equal(newest_alone, fine)


def test_face_thread_follows_a_real_time_replay(moving_face_video: Path) -> None:
    clock = Clock()
    with open_video(f"file://{moving_face_video}", clock) as video, FaceThread(video, FaceStage()) as faces:
        clock.sleep_until(1.0)
        crops, box, age, frame = faces.snapshot(clock.now())
        assert frame is not None and crops is not None and box is not None
        assert 0 <= age < 0.5
        assert faces.frames_processed >= 5
        assert faces.detect_ms_median > 0
        clock.sleep_until(VIDEO_FRAMES / VIDEO_FPS + 0.5)  # past the end and its grace
        crops, box, _, frame = faces.snapshot(clock.now())
        assert video.ended and frame is None and crops is None


def test_face_stage_uses_the_detector_given(astronaut: np.ndarray) -> None:
    detector = FaceDetector(detect_width=256)
    stage = FaceStage(detector=detector)
    assert stage.detector is detector
    box = stage.update(Frame(astronaut, 0.0, 0))
    assert box is not None and abs(box.center[0] - FACE_CENTER[0]) < 15 and abs(box.center[1] - FACE_CENTER[1]) < 15
