"""Integration on real footage in ../shared/data (skipped when that folder is absent).

Writes a contact sheet of the crops (a row per track) to $PREPROCESS_CONTACT_SHEET or pytest's
temp folder, for a person to look at.
"""

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from preprocessing import FaceCropConfig, extract_tracks
from preprocessing.tracking import iou

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PORTRAITS = sorted(DATA.glob("portrait_*.mp4")) if DATA.is_dir() else []

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA / "crowd_1080p.mp4").is_file(), reason=f"no real footage in {DATA}"),
]


@pytest.fixture(scope="module")
def results():
    """Our default pipeline on every real video, once for the module."""
    return {p.name: extract_tracks(p, FaceCropConfig()) for p in [*PORTRAITS, DATA / "crowd_1080p.mp4"]}


@pytest.mark.parametrize("name", [p.name for p in PORTRAITS])
def test_portrait_gives_exactly_one_long_track(results, name):
    vf = results[name]
    assert len(vf.tracks) == 1, [(t.frame_indices[0], t.frame_indices[-1]) for t in vf.tracks]
    t = vf.tracks[0]
    assert len(t.frame_indices) >= 0.9 * vf.num_frames
    assert t.crops.shape[1:] == (224, 224, 3) and t.det_score > 0.98


def test_crowd_has_one_track_per_person(results):
    """Fast check (the full-resolution reference below is slow): several people for over a second,
    and no person twice (no two tracks with overlapping boxes on the same frames)."""
    vf = results["crowd_1080p.mp4"]
    long = [t for t in vf.tracks if len(t.frame_indices) >= vf.fps]
    assert len(long) >= 5
    for i, a in enumerate(vf.tracks):
        for b in vf.tracks[i + 1 :]:
            common, ia, ib = np.intersect1d(a.frame_indices, b.frame_indices, return_indices=True)
            if len(common):
                assert np.diag(iou(a.boxes[ia], b.boxes[ib])).mean() < 0.3


@pytest.mark.slow
def test_crowd_tracks_cover_everyone_visible_for_a_second(results):
    """Reference: full-resolution detection (every 5th frame) linked into tracks of >= 1 s; each
    reference person must be covered by one of our tracks (mean box IoU >= 0.5 over its frames)."""
    vf = results["crowd_1080p.mp4"]
    cfg = FaceCropConfig()
    ref_cfg = dataclasses.replace(
        cfg,
        detector=dataclasses.replace(cfg.detector, max_side=100_000),
        tracker=dataclasses.replace(cfg.tracker, min_frames=int(round(vf.fps))),
    )
    reference = extract_tracks(DATA / "crowd_1080p.mp4", ref_cfg).tracks
    assert len(reference) >= 4  # the street scene shows several people for more than a second
    missed = []
    for ref in reference:
        best = 0.0
        for ours in vf.tracks:
            common, ir, io = np.intersect1d(ref.frame_indices, ours.frame_indices, return_indices=True)
            if len(common):
                best = max(best, float(np.diag(iou(ref.boxes[ir], ours.boxes[io])).sum()) / len(ref.frame_indices))
        if best < 0.5:
            missed.append((int(ref.frame_indices[0]), int(ref.frame_indices[-1]), round(ref.face_size), round(best, 2)))
    assert not missed, f"reference tracks (first, last frame, size, overlap) not covered: {missed}"


def test_write_contact_sheet(results, tmp_path_factory):
    rows = []
    for name, vf in results.items():
        for k, t in enumerate(vf.tracks):
            picks = np.linspace(0, len(t.crops) - 1, 8).round().astype(int)
            strip = np.concatenate([cv2.resize(c, (112, 112)) for c in t.crops[picks]], axis=1)
            label = np.full((18, strip.shape[1], 3), 255, np.uint8)
            text = f"{name} track {k}: frames {t.frame_indices[0]}-{t.frame_indices[-1]}, face {t.face_size:.0f}px"
            cv2.putText(label, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            rows += [label, strip]
    sheet = np.concatenate(rows, axis=0)
    out = Path(os.environ.get("PREPROCESS_CONTACT_SHEET") or tmp_path_factory.mktemp("sheet") / "contact_sheet.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    assert out.stat().st_size > 10_000


def test_two_real_videos_spliced_give_two_tracks_each_inside_its_shot(tmp_path):
    """A hard cut between two real people: no track crosses it."""
    from preprocessing.video import VideoReader, write_video

    a = np.stack([f for _, f in VideoReader(DATA / "portrait_talking_512.mp4").frames(range(60))])
    b = np.stack([f for _, f in VideoReader(DATA / "portrait_greenscreen_512.mp4").frames(range(50))])
    path = write_video(tmp_path / "spliced.mp4", np.concatenate([a, b]))
    vf = extract_tracks(path, FaceCropConfig())
    assert vf.cuts == [60]
    spans = [(int(t.frame_indices[0]), int(t.frame_indices[-1])) for t in vf.tracks]
    assert len(spans) == 2 and all(hi < 60 or lo >= 60 for lo, hi in spans), spans
    assert spans[0][1] >= 55 and spans[1][0] <= 64  # each covers its shot up to the cut
