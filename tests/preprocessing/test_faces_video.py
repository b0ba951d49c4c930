"""Reading videos (decord and the PyAV fallback) and the single-video face API."""

import numpy as np
import pytest

from preprocessing import VideoDecodeError, extract_tracks
from preprocessing.video import VideoReader


def test_decord_and_pyav_read_the_same_frames(media):
    a = VideoReader(media["face"])
    b = VideoReader(media["face"], backend="pyav")
    assert (a.info.backend, b.info.backend) == ("decord", "pyav")
    assert a.info.num_frames == b.info.num_frames == 24 and a.info.fps == pytest.approx(25.0)
    idx = [0, 7, 8, 23, 45]  # 45 is past the end: silently absent
    fa, fb = dict(a.frames(idx)), dict(b.frames(idx))
    assert sorted(fa) == sorted(fb) == [0, 7, 8, 23]
    for i in fa:
        assert fa[i].shape == (240, 320, 3) and fa[i].dtype == np.uint8
        assert np.abs(fa[i].astype(int) - fb[i].astype(int)).mean() < 2


def test_unreadable_files_raise_decode_error(media, tmp_path):
    with pytest.raises(VideoDecodeError):
        VideoReader(media["corrupt"])
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty file"):
        VideoReader(tmp_path / "empty.mp4")
    with pytest.raises(VideoDecodeError, match="not found"):
        extract_tracks(tmp_path / "nope.mp4", None)


def test_extract_one_track_and_reuse_its_geometry(media, fast_faces):
    cfg = fast_faces()
    calls = []
    vf = extract_tracks(media["face"], cfg, progress=lambda f, d: calls.append(f))
    assert (vf.num_frames, vf.frames_read, vf.width, vf.height) == (24, 24, 320, 240)
    assert len(vf.tracks) == 1
    t = vf.tracks[0]
    assert t.frame_indices.tolist() == list(range(24)) and t.crops.shape == (24, 64, 64, 3)
    assert t.det_score > 0.95 and t.boxes.shape == (24, 4)
    # the face drifts +2 px/frame in x: the track follows it
    cx = (t.boxes[:, 0] + t.boxes[:, 2]) / 2
    assert 38 < cx[-1] - cx[0] < 54
    assert set(vf.timings) == {"decode", "detect", "track", "crop", "total"} and calls[-1] == 1.0
    # a "fake" reusing the geometry: no detection, same boxes, crops of its own frames
    other = extract_tracks(media["face2"], cfg, reuse=vf.tracks)
    assert other.timings["detect"] == 0.0
    np.testing.assert_array_equal(other.tracks[0].boxes, t.boxes)
    assert not np.array_equal(other.tracks[0].crops, t.crops)


def test_frame_stride_and_max_frames(media, fast_faces):
    cfg = fast_faces()
    cfg.frame_stride, cfg.max_frames = 2, 10
    vf = extract_tracks(media["face"], cfg)
    assert vf.frames_read == 10
    assert vf.tracks[0].frame_indices.tolist() == list(range(0, 20, 2))


def test_no_face_video_has_no_tracks(media, fast_faces):
    assert extract_tracks(media["blank"], fast_faces()).tracks == []
