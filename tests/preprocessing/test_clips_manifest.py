"""Clip storage round trip and the manifest's typed JSONL format."""

import json

import numpy as np
import pytest

from preprocessing.clips import clip_length, read_clip, write_clip
from preprocessing.cropping import crop_face, square_box
from preprocessing.manifest import COLUMNS, read_manifest, write_manifest


def _frames(n=20, size=64):
    import cv2
    from skimage import data

    face = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return np.stack([np.roll(face, 2 * t, axis=1) for t in range(n)])


def test_clip_round_trip_random_access(tmp_path):
    frames = _frames()
    path = tmp_path / "a" / "track0.zip"
    size = write_clip(path, frames, quality=95)
    assert size == path.stat().st_size and size < frames.nbytes / 2
    assert clip_length(path) == 20
    every = read_clip(path)
    assert every.shape == frames.shape and every.dtype == np.uint8
    mse = np.mean((every.astype(float) - frames.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 35
    picked = read_clip(path, [7, 3, 3, -1])
    np.testing.assert_array_equal(picked, every[[7, 3, 3, 19]])
    with pytest.raises(IndexError):
        read_clip(path, [20])
    assert not list(tmp_path.glob("a/.*tmp"))  # atomic write leaves no temp file


def test_crop_square_margin_and_border():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 90:110] = 255  # a 20x20 white "face"
    assert square_box(np.array([90, 40, 110, 60]), 1.5) == (85, 35, 30)
    crop = crop_face(frame, np.array([90, 40, 110, 60]), 2.0, 40)  # 40 px square, face in the middle half
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].min() == 255 and crop[2, 2].max() == 0
    # a face at the left border: the outside part is black, the face stays on the right side
    frame[40:60, 0:10] = 200
    edge = crop_face(frame, np.array([-10, 40, 10, 60]), 2.0, 40)
    assert edge[:, :20].max() == 0 and edge[20, 25].min() == 200


def _row(vid, track, status="ok"):
    ok = status == "ok"
    return {
        "video_id": vid,
        "dataset": "folder",
        "method": "real",
        "label": 0,
        "split": "train",
        "original": vid,
        "track": track if ok else None,
        "clip": f"clips/{vid}/track{track}.zip" if ok else None,
        "num_frames": 3 if ok else 0,
        "fps": 25.0,
        "frame_indices": [0, 1, 2] if ok else [],
        "det_score": 0.99 if ok else None,
        "face_size": 80.0 if ok else None,
        "source": "x.mp4",
        "status": status,
    }


def test_manifest_round_trip_sorted_and_typed(tmp_path):
    rows = [_row("b", 1), _row("b", 0), _row("a", 0, "decode_error: moov atom not found")]
    path = write_manifest(tmp_path / "manifest.jsonl", rows)
    got = read_manifest(path)
    assert [(r["video_id"], r["track"]) for r in got] == [("a", None), ("b", 0), ("b", 1)]
    assert set(got[0]) == set(COLUMNS)
    assert got[1]["frame_indices"] == [0, 1, 2] and isinstance(got[1]["fps"], float)
    assert got[0]["clip"] is None and got[0]["status"].startswith("decode_error")


def test_manifest_rejects_bad_rows(tmp_path):
    bad = _row("a", 0)
    bad["label"] = "fake"
    with pytest.raises(ValueError, match="label"):
        write_manifest(tmp_path / "m.jsonl", [bad])
    path = tmp_path / "m2.jsonl"
    path.write_text(json.dumps(_row("a", 0)) + "\n{broken\n")
    with pytest.raises(ValueError, match=":2: not JSON"):
        read_manifest(path)
    missing = _row("a", 0)
    del missing["split"]
    with pytest.raises(ValueError, match="split"):
        write_manifest(tmp_path / "m3.jsonl", [missing])
