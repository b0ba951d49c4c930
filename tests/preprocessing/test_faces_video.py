"""Reading videos (PyAV, and decord for what PyAV cannot read) and the single-video face API."""

import numpy as np
import pytest

from preprocessing import VideoDecodeError, extract_tracks
from preprocessing.video import VideoReader


def test_decord_and_pyav_read_the_same_frames(media):
    a = VideoReader(media["face"])
    b = VideoReader(media["face"], backend="decord")
    assert (a.info.backend, b.info.backend) == ("pyav", "decord")
    assert a.info.num_frames == b.info.num_frames == 24 and a.info.fps == pytest.approx(25.0)
    idx = [0, 7, 8, 23, 45]  # 45 is past the end: silently absent
    fa, fb = dict(a.frames(idx)), dict(b.frames(idx))
    assert sorted(fa) == sorted(fb) == [0, 7, 8, 23]
    for i in fa:
        assert fa[i].shape == (240, 320, 3) and fa[i].dtype == np.uint8
        assert np.array_equal(fa[i], fb[i])
    # decord decodes ahead without limit once it has given a frame, so the default path never opens it
    assert a._decord is None


def test_a_file_pyav_cannot_read_falls_back_to_decord(media, monkeypatch):
    import preprocessing.video as video

    def refuse(path):
        raise VideoDecodeError("pyav: refused")

    monkeypatch.setattr(video, "_probe_pyav", refuse)
    r = VideoReader(media["face"])
    assert r.info.backend == "decord" and [i for i, _ in r.frames(range(0, 24, 5))] == [0, 5, 10, 15, 20]
    with pytest.raises(VideoDecodeError, match="pyav: refused"):
        VideoReader(media["face"], backend="pyav")


def test_fix_mmap_threshold_sets_glibc_once():
    import platform

    from preprocessing.video import fix_mmap_threshold

    assert fix_mmap_threshold() is (platform.libc_ver()[0] == "glibc")
    assert fix_mmap_threshold.cache_info().currsize == 1


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


def test_a_track_ends_at_a_shot_cut(tmp_path, fast_faces):
    """Two shots spliced at frame 20 with the face near the same place: without cut detection the tracker links
    them into one track across the cut; with it, two tracks, each inside its shot."""
    from conftest import face_frames

    from preprocessing.video import write_video

    first = face_frames(20, dx=1, dy=0, seed=0)
    # the next shot: another set under warm light (a colour cast), the face near where it was
    second = face_frames(20, dx=1, dy=0, seed=5).astype(np.float32) * np.array([1.35, 0.95, 0.55])
    second = np.ascontiguousarray(np.clip(second, 0, 255).astype(np.uint8))
    path = write_video(tmp_path / "spliced.mp4", np.concatenate([first, second]), codec="mp4v")
    cfg = fast_faces()
    vf = extract_tracks(path, cfg)
    assert vf.cuts == [20]
    spans = [(int(t.frame_indices[0]), int(t.frame_indices[-1])) for t in vf.tracks]
    assert spans == [(0, 19), (20, 39)]  # each track exactly its shot: detection runs on both sides of the cut
    cfg.tracker.cut_threshold = None
    merged = extract_tracks(path, cfg)
    assert merged.cuts == [] and [(int(t.frame_indices[0]), int(t.frame_indices[-1])) for t in merged.tracks] == [
        (0, 39)]


def test_no_cut_is_found_inside_one_shot(media, fast_faces):
    for key in ("face", "face2", "blank"):
        assert extract_tracks(media[key], fast_faces()).cuts == []


def test_tracks_carry_the_five_landmarks_into_crop_pixels(media, fast_faces):
    cfg = fast_faces()
    vf = extract_tracks(media["face"], cfg)
    tr = vf.tracks[0]
    assert tr.landmarks.shape == (len(tr.frame_indices), 5, 2)
    lm = tr.crop_landmarks(cfg.margin, cfg.size)
    assert ((lm > 0) & (lm < cfg.size)).all()  # inside the crop
    eyes, nose, mouth = lm[:, :2], lm[:, 2], lm[:, 3:]
    assert (eyes[..., 1].max(1) < nose[:, 1]).all() and (nose[:, 1] < mouth[..., 1].min(1)).all()  # top to bottom
    assert (eyes[:, 0, 0] < eyes[:, 1, 0]).all()  # left eye left of right eye
    # the face drifts 2 px per frame in the source; in crop pixels the landmarks stay nearly still
    assert np.abs(np.diff(lm, axis=0)).max() < 3.0


def test_crops_kept_as_jpeg_are_what_the_clip_store_reads_back(media, fast_faces, tmp_path):
    """extract_tracks(clip=...) keeps crops JPEG-encoded as they are cut: a tenth of the memory, the same
    tracks, frames equal to as_stored(raw crops), and the same clip bytes on disk (encoded once)."""
    from preprocessing.clips import JpegFrames, as_stored, read_clip, write_clip
    from preprocessing.config import ClipConfig

    cfg, clip = fast_faces(), ClipConfig()
    raw = extract_tracks(media["face"], cfg)
    kept = extract_tracks(media["face"], cfg, clip=clip)
    (a,), (b,) = raw.tracks, kept.tracks
    assert isinstance(b.crops, JpegFrames) and b.crops.shape == a.crops.shape == (24, 64, 64, 3)
    np.testing.assert_array_equal(b.boxes, a.boxes)
    np.testing.assert_array_equal(np.asarray(b.crops), as_stored(a.crops, clip.quality, clip.subsampling))
    assert b.crops.nbytes < a.crops.nbytes / 3
    assert as_stored(b.crops, clip.quality, clip.subsampling) is b.crops  # already as stored
    np.testing.assert_array_equal(b.crops[[3, 1]], np.asarray(b.crops)[[3, 1]])
    assert b.crops[5].shape == (64, 64, 3) and b.crops[2:4].shape == (2, 64, 64, 3) and b.crops[[]].shape[0] == 0
    write_clip(tmp_path / "raw.zip", a.crops, clip.quality, clip.subsampling)
    write_clip(tmp_path / "kept.zip", b.crops, clip.quality, clip.subsampling)
    assert (tmp_path / "raw.zip").read_bytes() == (tmp_path / "kept.zip").read_bytes()
    write_clip(tmp_path / "q80.zip", b.crops, 80, "420")  # other settings: encoded again from the kept frames
    assert read_clip(tmp_path / "q80.zip").shape == (24, 64, 64, 3)
    reused = extract_tracks(media["face2"], cfg, reuse=raw.tracks, clip=clip)  # a fake cut from the boxes
    assert isinstance(reused.tracks[0].crops, JpegFrames) and len(reused.tracks[0].crops) == 24
