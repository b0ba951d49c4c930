"""Tracking on synthetic box sequences: linking, gaps, interpolation, smoothing, filtering."""

import numpy as np
import pytest

from preprocessing.config import TrackerConfig
from preprocessing.tracking import build_tracks, iou, link_detections, smooth_boxes


def box(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def dets_from(people, positions, score=0.99):
    """people: functions pos -> box or None; returns detections on the given positions."""
    out = []
    for p in positions:
        boxes = [f(p) for f in people if f(p) is not None]
        out.append((p, np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), score, np.float32)))
    return out


def test_iou_basic():
    assert iou([box(0, 0, 10)], [box(0, 0, 10)])[0, 0] == pytest.approx(1.0)
    assert iou([box(0, 0, 10)], [box(100, 0, 10)])[0, 0] == 0.0
    assert iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(50 / 150)


def test_two_people_one_track_each_with_exact_interpolation():
    a = lambda p: box(100 + 3 * p, 100, 60)  # noqa: E731
    b = lambda p: box(400 - 2 * p, 150, 80)  # noqa: E731
    cfg = TrackerConfig(min_frames=10, min_face_size=20, smoothing=1)
    tracks = build_tracks(dets_from([a, b], range(0, 60, 5)), cfg, detect_every=5)
    assert len(tracks) == 2
    for t, f in zip(sorted(tracks, key=lambda t: t.face_size), [a, b], strict=True):
        assert t.positions.tolist() == list(range(0, 56))
        # linear motion is reproduced exactly on the frames between detections
        np.testing.assert_allclose(t.boxes, np.array([f(p) for p in t.positions]), atol=1e-3)
        assert t.detected.sum() == 12


def test_fast_motion_is_linked_by_prediction():
    # 6 px/frame on a 40 px face: boxes 5 frames apart overlap by IoU 0.14 only; linked by centre distance,
    # then by the motion-predicted box
    a = lambda p: box(50 + 6 * p, 100, 40)  # noqa: E731
    cfg = TrackerConfig(min_frames=10, min_face_size=20)
    tracks = build_tracks(dets_from([a], range(0, 80, 5)), cfg, detect_every=5)
    assert len(tracks) == 1 and len(tracks[0].positions) == 76
    # without the centre-distance rule the first two detections never link
    assert link_detections(dets_from([a], [0, 5]), 0.3, 10, max_shift=0.0).__len__() == 2


def test_occlusion_gap_bridged_but_long_absence_splits():
    a = lambda p: box(200, 200, 100)  # noqa: E731
    positions = [p for p in range(0, 100, 5) if not 40 <= p < 60]  # face hidden for 20 frames
    cfg = TrackerConfig(max_gap=30, min_frames=10)
    tracks = build_tracks(dets_from([a], positions), cfg, detect_every=5)
    assert len(tracks) == 1 and tracks[0].positions[0] == 0 and tracks[0].positions[-1] == 95
    assert not tracks[0].detected[40:60].any()
    cfg = TrackerConfig(max_gap=10, min_frames=10)
    assert len(build_tracks(dets_from([a], positions), cfg, detect_every=5)) == 2


def test_short_tiny_and_low_score_tracks_dropped():
    real = lambda p: box(200, 200, 100)  # noqa: E731
    flash = lambda p: box(500, 100, 80) if 20 <= p <= 25 else None  # noqa: E731  # 6 frames
    tiny = lambda p: box(50, 400, 12)  # noqa: E731
    dets = dets_from([real, flash, tiny], range(0, 60, 5))
    cfg = TrackerConfig(min_frames=16, min_face_size=32)
    tracks = build_tracks(dets, cfg, detect_every=5)
    assert len(tracks) == 1 and tracks[0].face_size == pytest.approx(100, abs=1)
    low = dets_from([real], range(0, 60, 5), score=0.9)
    assert build_tracks(low, TrackerConfig(min_score=0.95), detect_every=5) == []


def test_smoothing_removes_jitter_but_keeps_motion():
    rng = np.random.default_rng(0)
    truth = np.array([box(100 + p, 100, 60) for p in range(100)], np.float32)
    noisy = truth + rng.normal(0, 3, truth.shape).astype(np.float32)
    smoothed = smooth_boxes(noisy, 9)
    inner = slice(5, -5)
    assert np.abs(smoothed[inner] - truth[inner]).mean() < 0.5 * np.abs(noisy[inner] - truth[inner]).mean()
    assert smooth_boxes(noisy, 1) is not noisy and np.allclose(smooth_boxes(noisy, 1), noisy)


def test_crossing_faces_keep_identity_by_greedy_iou():
    a = lambda p: box(100 + 4 * p, 100, 60)  # noqa: E731
    b = lambda p: box(300 - 4 * p, 300, 60)  # noqa: E731  # passes below a, never overlaps it
    raw = link_detections(dets_from([a, b], range(0, 50, 5)), 0.3, 10, 1.0)
    assert len(raw) == 2
    for r in raw:
        ys = {round((bx[1] + bx[3]) / 2) for bx in r.boxes}
        assert len(ys) == 1  # each track stays on its own row
