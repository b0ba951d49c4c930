"""The one-pass face stream: frames are held only until no later detection can move their boxes, and the
tracks and crops equal those of a run that held the whole video (a detector batch larger than the video).

A stub detector (a bright square on a dark canvas is the face) keeps the tests fast and exact; the real
MTCNN path is covered in test_faces_video.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from preprocessing import extract_tracks
from preprocessing.config import FaceCropConfig
from preprocessing.video import write_video

SIDE = 24  # the square's side, px


class SquareDetector:
    """Finds the bright squares (one per connected blob): box, score 0.99, five landmarks inside it."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def detect(self, frames):
        import cv2

        self.batches.append(len(frames))
        out = []
        for f in frames:
            n, _, stats, _ = cv2.connectedComponentsWithStats((f[..., 1] > 200).astype(np.uint8))
            boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:] if area >= SIDE * SIDE // 2]
            boxes = np.array(boxes, np.float32).reshape(-1, 4)
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            offsets = np.array([[-5, -4], [5, -4], [0, 0], [-4, 5], [4, 5]], np.float32)
            points = np.stack([cx, cy], 1)[:, None, :] + offsets[None]
            out.append((boxes, np.full(len(boxes), 0.99, np.float32), points.astype(np.float32)))
        return out


def square_video(path, n: int, cut: int | None = None, gone: tuple[int, int] | None = None,
                 flash: tuple[int, int] | None = None):
    """A square swaying over a dark canvas; at ``cut`` the canvas turns another colour and the
    square jumps; during ``gone`` (start, end) it is hidden (a face that leaves and comes back); during
    ``flash`` a second square shows for a moment (a false detection, too short to keep)."""
    frames = np.empty((n, 96, 128, 3), np.uint8)
    for t in range(n):
        shot = int(cut is not None and t >= cut)
        frames[t] = (20, 20, 90) if shot else (70, 30, 20)
        sway = abs(t % 120 - 60)  # back and forth, no jump
        x, y = (10 + sway, 30) if not shot else (90 - sway, 50)
        if gone is None or not gone[0] <= t < gone[1]:
            frames[t, y:y + SIDE, x:x + SIDE] = (120, 255, 120)
        if flash is not None and flash[0] <= t < flash[1]:
            frames[t, 4:4 + SIDE, 100:100 + SIDE] = (120, 255, 120)
    return write_video(path, frames, codec="mp4v")


def faces_cfg(batch: int) -> FaceCropConfig:
    cfg = FaceCropConfig(size=32)
    cfg.detector.every = 5
    cfg.detector.batch_size = batch
    cfg.tracker.min_frames = 8
    cfg.tracker.min_face_size = 8
    cfg.tracker.max_gap = 12
    return cfg


def run(path, batch: int):
    """(the video's faces, what the stream held at its end: frames held at most, tracks rejected early,
    tracks whose crops it still held)."""
    seen: list[tuple[int, int, int]] = []
    import preprocessing.faces as faces

    finish = faces._TrackStream.finish

    def spy(self, clip_idx):
        seen.append((self.max_frames_held, len(self.rejected), len(self.crops)))
        return finish(self, clip_idx)

    faces._TrackStream.finish = spy
    try:
        vf = extract_tracks(path, faces_cfg(batch), detector=SquareDetector())
    finally:
        faces._TrackStream.finish = finish
    return vf, seen[0]


def assert_same(a, b):
    assert a.cuts == b.cuts and len(a.tracks) == len(b.tracks) >= 1
    for s, t in zip(a.tracks, b.tracks, strict=True):
        np.testing.assert_array_equal(s.frame_indices, t.frame_indices)
        np.testing.assert_array_equal(s.boxes, t.boxes)
        np.testing.assert_array_equal(s.landmarks, t.landmarks)
        np.testing.assert_array_equal(s.crops, t.crops)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_streamed_run_equals_a_whole_video_run(tmp_path, batch):
    path = square_video(tmp_path / "v.mp4", 120, gone=(50, 58))
    whole, (held_whole, _, _) = run(path, 10_000)  # one detector batch at the end: every frame held
    streamed, (held, _, _) = run(path, batch)
    assert held_whole == 120
    assert_same(streamed, whole)
    assert held < 40  # a window of frames, not the video


def test_the_frames_held_do_not_grow_with_the_video(tmp_path):
    short, (held_short, _, _) = run(square_video(tmp_path / "short.mp4", 100), 2)
    long, (held_long, _, _) = run(square_video(tmp_path / "long.mp4", 400), 2)
    assert long.frames_read == 400 and len(long.tracks[0].frame_indices) == 400
    assert held_long == held_short
    # bounded by the detector's batch, the tracker's gap and half a smoothing window
    cfg = faces_cfg(2)
    assert held_long <= cfg.detector.batch_size * cfg.detector.every + cfg.tracker.max_gap + cfg.tracker.smoothing


@pytest.mark.parametrize("cut", [15, 16, 19, 20, 21])
def test_a_cut_on_a_batch_border_still_ends_its_track(tmp_path, cut):
    """Batches of 2 detector frames every 5 flush at positions 5, 15, 25, …: cuts at and beside a border."""
    path = square_video(tmp_path / "cut.mp4", 60, cut=cut)
    streamed, _ = run(path, 2)
    whole, _ = run(path, 10_000)
    assert streamed.cuts == [cut]
    spans = [(int(t.frame_indices[0]), int(t.frame_indices[-1])) for t in streamed.tracks]
    assert spans == [(0, cut - 1), (cut, 59)]
    assert_same(streamed, whole)


def test_a_short_false_track_lets_its_crops_go_once_it_closes(tmp_path):
    path = square_video(tmp_path / "flash.mp4", 120, flash=(20, 23))  # seen by one detector run (frame 20)
    vf, (_, rejected, holding) = run(path, 2)
    whole, _ = run(path, 10_000)
    assert len(vf.tracks) == 1 and rejected == 1 and holding == 1  # only the kept track's crops remain
    assert_same(vf, whole)
