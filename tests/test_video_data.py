"""Video data: track selection, short-track rule, segments, datasets, clip augmentation."""

from __future__ import annotations

import dataclasses
import random
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deepfake_ssat.data.augment import VideoAugmentConfig, build_clip_augment, resize_clip
from deepfake_ssat.data.video import (
    ClipDataset,
    SegmentDataset,
    clip_indices,
    collate_clips,
    collate_segments,
    max_clip_start,
    segment_starts,
    segment_times,
    select_tracks,
    unusable_videos,
)
from preprocessing.clips import write_clip
from preprocessing.manifest import read_manifest, write_manifest

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PROBS = [f.name for f in dataclasses.fields(VideoAugmentConfig) if f.name.endswith("_p")]


def _frames(n: int, side: int = 32) -> np.ndarray:
    # Frame i is flat grey 10 + 5 i: the frame index survives JPEG and resizing.
    return np.stack([np.full((side, side, 3), 10 + 5 * i, np.uint8) for i in range(n)])


def _row(vid: str, split: str, method: str, n: int, status: str = "ok", fps: float = 25.0) -> dict:
    ok = status == "ok"
    return dict(video_id=vid, dataset="dfdc", method=method, label=int(method != "real"), split=split,
                original=vid, track=0 if ok else None, clip=f"clips/{vid}_0.zip" if ok else None,
                num_frames=n if ok else 0, fps=fps, frame_indices=list(range(0, 2 * n, 2)) if ok else [],
                det_score=0.99 if ok else None, face_size=100.0 if ok else None, source=f"{vid}.mp4", status=status)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, list[dict]]:
    specs = [("a", "train", "real", 40), ("b", "train", "dfdc", 3), ("c", "val", "dfdc", 41), ("d", "val", "real", 9)]
    rows = [_row(*s) for s in specs] + [_row("e", "val", "dfdc", 0, status="no_face")]
    for r in rows:
        if r["status"] == "ok":
            write_clip(tmp_path / r["clip"], _frames(r["num_frames"]))
    write_manifest(tmp_path / "manifest.jsonl", rows)
    return tmp_path, read_manifest(tmp_path / "manifest.jsonl")


def _frame_ids(x: torch.Tensor) -> list[int]:
    # Undo normalisation and the grey encoding of _frames: (3, T, H, W) → frame index per t.
    m, s = torch.tensor(MEAN).view(3, 1, 1, 1), torch.tensor(STD).view(3, 1, 1, 1)
    grey = (x * s + m).mul(255).mean(dim=(0, 2, 3))
    return [round((float(g) - 10) / 5) for g in grey]


# --------------------------------------------------------------------------- selection


def test_select_tracks_and_unusable(data):
    _, rows = data
    assert [r["video_id"] for r in select_tracks(rows, "train")] == ["a", "b"]
    assert [r["video_id"] for r in select_tracks(rows, ["train", "val"], ["real"])] == ["a", "d"]
    with pytest.raises(ValueError, match=r"split \['test'\]"):
        select_tracks(rows, "test")
    with pytest.raises(ValueError, match="Deepfakes"):
        select_tracks(rows, "train", ["Deepfakes"])  # unknown method: a typo, not an empty split
    assert [r["video_id"] for r in unusable_videos(rows, "val")] == ["e"]
    assert unusable_videos(rows, "train") == []


# --------------------------------------------------------------------------- short-track rule, segments


@pytest.mark.parametrize("n, t, stride, start, expected", [
    (40, 4, 2, 0, [0, 2, 4, 6]),
    (40, 4, 2, 33, [33, 35, 37, 39]),
    (7, 4, 3, 0, [0, 2, 4, 6]),  # span 10 > 7: largest stride that fits is 2
    (5, 4, 3, 1, [1, 2, 3, 4]),  # only stride 1 fits
    (3, 4, 2, 0, [0, 1, 1, 2]),  # shorter than a clip: evenly spaced repeats
    (2, 4, 1, 0, [0, 0, 1, 1]),
    (1, 4, 1, 0, [0, 0, 0, 0]),
    (16, 16, 2, 0, list(range(16))),
])
def test_clip_indices_short_track_rule(n, t, stride, start, expected):
    idx = clip_indices(n, t, stride, start)
    assert idx.dtype == np.int64 and idx.tolist() == expected


def test_clip_indices_bad_input():
    assert max_clip_start(40, 4, 2) == 33 and max_clip_start(3, 4, 2) == 0 and max_clip_start(7, 4, 3) == 0
    with pytest.raises(ValueError, match="at least one frame"):
        clip_indices(0, 4, 1, 0)
    with pytest.raises(ValueError, match="outside"):
        clip_indices(40, 4, 2, 34)


def test_segment_starts_examples():
    assert segment_starts(40, 4, 2) == [0, 8, 16, 24, 32]  # non-overlapping, exact fit
    assert segment_starts(41, 4, 2) == [0, 8, 16, 24, 32, 34]  # last shifted to end at frame 40
    assert segment_starts(30, 16, 2) == [0, 14]  # stride 1 by the short-track rule, then shifted
    assert segment_starts(3, 4, 2) == [0] and segment_starts(7, 4, 2) == [0]
    assert segment_starts(20, 4, 1, step=2) == list(range(0, 17, 2))  # overlapping


@pytest.mark.parametrize("t, stride, step", [(4, 1, None), (4, 2, None), (4, 3, None), (16, 2, None), (4, 2, 3)])
def test_segments_cover_every_frame(t, stride, step):
    for n in range(1, 70):
        starts = segment_starts(n, t, stride, step)
        segs = [clip_indices(n, t, stride, s) for s in starts]
        assert all(0 <= i < n for seg in segs for i in seg)
        covered = set()
        for seg in segs:  # each sampled frame stands for the `s` frames up to the next one
            s = int(seg[1] - seg[0]) if len(seg) > 1 and seg[1] > seg[0] else 1
            covered.update(range(int(seg[0]), min(int(seg[-1]) + s, n)))
        assert covered == set(range(n)), (n, starts)
        assert len(starts) == len(set(starts))


def test_segment_times():
    row = _row("a", "train", "real", 40)  # source frames 0, 2, 4, … at 25 fps
    assert segment_times(row, [0, 2, 4, 6]) == pytest.approx((0.0, 13 / 25))
    assert segment_times(row, [1, 1, 2]) == pytest.approx((2 / 25, 5 / 25))


# --------------------------------------------------------------------------- datasets


def test_clip_dataset_shapes_normalisation_and_reproducibility(data):
    root, rows = data
    ds = ClipDataset(select_tracks(rows, "train"), root, num_frames=4, stride=2, size=16, mean=MEAN, std=STD)
    assert ds.labels.tolist() == [0, 1] and len(ds) == 2
    torch.manual_seed(3)
    x, y = ds[0]
    assert x.shape == (3, 4, 16, 16) and x.dtype == torch.float32 and y == 0
    ids = _frame_ids(x)
    assert np.diff(ids).tolist() == [2, 2, 2] and 0 <= ids[0] <= 33  # stride 2 from a random start
    grey = (10 + 5 * ids[0]) / 255  # normalised with the given mean/std
    expected = [(grey - m) / s for m, s in zip(MEAN, STD, strict=True)]
    assert x[:, 0].mean(dim=(1, 2)).tolist() == pytest.approx(expected, abs=0.03)
    assert _frame_ids(ds[1][0]) == [0, 1, 1, 2]  # 3-frame track kept by the short-track rule
    torch.manual_seed(7)
    first = [_frame_ids(ds[0][0])[0] for _ in range(5)]
    torch.manual_seed(7)
    assert [_frame_ids(ds[0][0])[0] for _ in range(5)] == first and len(set(first)) > 1
    xb, yb = collate_clips([ds[0], ds[1]])
    assert xb.shape == (2, 3, 4, 16, 16) and yb.tolist() == [0, 1] and yb.dtype == torch.int64


def test_clip_dataset_with_augment(data):
    root, rows = data
    aug = build_clip_augment(VideoAugmentConfig(), 16)
    ds = ClipDataset(select_tracks(rows, "train"), root, 4, 2, 16, MEAN, STD, augment=aug)
    x, _ = ds[0]
    assert x.shape == (3, 4, 16, 16)


def test_segment_dataset(data):
    root, rows = data
    ds = SegmentDataset(select_tracks(rows, "val"), root, num_frames=4, stride=2, size=16, mean=MEAN, std=STD)
    assert ds.segments == [(0, s) for s in (0, 8, 16, 24, 32, 34)] + [(1, 0), (1, 2)]
    assert [r["video_id"] for r in ds.rows] == ["c", "d"]
    x, y, t = ds[5]
    assert x.shape == (3, 4, 16, 16) and (y, t) == (1, 0)
    assert _frame_ids(x) == [34, 36, 38, 40]
    assert ds.segment_times(1) == pytest.approx((16 / 25, 29 / 25))
    xb, yb, tb = collate_segments([ds[0], ds[7]])
    assert xb.shape == (2, 3, 4, 16, 16) and yb.tolist() == [1, 0] and tb.tolist() == [0, 1]
    ds2 = SegmentDataset(select_tracks(rows, "val"), root, 4, 2, 16, MEAN, STD, segment_step=4)
    assert [s for t, s in ds2.segments if t == 0] == [*range(0, 33, 4), 34]


def test_missing_clip_file(data):
    root, rows = data
    train = select_tracks(rows, "train")
    ds = ClipDataset(train, root, 4, 2, 16, MEAN, STD)
    (root / train[0]["clip"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"a_0\.zip.*preprocess"):
        ds[0]  # deleted after start-up
    with pytest.raises(FileNotFoundError, match=r"a_0\.zip.*missing.*preprocess --dataset dfdc"):
        ClipDataset(train, root, 4, 2, 16, MEAN, STD)


def test_dataset_rejects_reason_rows(data):
    root, rows = data
    with pytest.raises(ValueError, match="not a usable track"):
        SegmentDataset([r for r in rows if r["video_id"] == "e"], root, 4, 2, 16, MEAN, STD)


# --------------------------------------------------------------------------- augmentation


def _all_on(**kw) -> VideoAugmentConfig:
    return VideoAugmentConfig(**({p: 1.0 for p in PROBS} | kw))


def _all_off(**kw) -> VideoAugmentConfig:
    return VideoAugmentConfig(**({p: 0.0 for p in PROBS} | kw))


def _texture(seed: int, side: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


@pytest.mark.parametrize("side", [32, 24])  # with and without the resize
def test_augment_same_parameters_for_every_frame(side):
    clip = np.stack([_texture(0, side)] * 4)
    for colour in ("brightness_contrast", "fancy_pca", "hue_saturation"):
        only = {c: c == colour for c in ("brightness_contrast", "fancy_pca", "hue_saturation")}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no deprecated albumentations API
            aug = build_clip_augment(_all_on(noise_p=0.0, **only), 24)
            for seed in range(15):
                random.seed(seed)
                out = aug(clip)
                assert out.shape == (4, 24, 24, 3) and out.dtype == np.uint8
                assert all(np.array_equal(out[0], f) for f in out), (colour, seed)
                assert not np.array_equal(out[0], resize_clip(clip, 24)[0])


def test_augment_noise_strength_drawn_once_pattern_per_frame():
    clip = np.full((4, 32, 32, 3), 128, np.uint8)
    aug = build_clip_augment(_all_off(noise_p=1.0, noise_std=(0.01, 0.1)), 32)
    strengths = []
    for seed in range(6):
        random.seed(seed)
        noise = aug(clip).astype(np.float32) - 128
        per_frame = noise.reshape(4, -1).std(axis=1)
        assert not np.array_equal(noise[0], noise[1])  # sensor noise is fresh in every frame
        assert per_frame.max() / per_frame.min() < 1.25, per_frame  # ... at one drawn strength
        strengths.append(per_frame.mean())
    assert max(strengths) / min(strengths) > 1.5  # and the strength varies between clips


def test_fancy_pca_matches_albumentations():
    import albumentations as A

    from deepfake_ssat.data.augment import ClipFancyPCA

    image = np.ascontiguousarray(np.concatenate([_texture(s, 48) for s in range(4)]))  # a tall clip
    image[..., 1] = image[..., 0] // 2 + image[..., 1] // 4  # correlated channels, distinct variances
    image[..., 2] //= 6
    for seed in range(4):
        ours, theirs = A.Compose([ClipFancyPCA(alpha=0.5, p=1)]), A.Compose([A.FancyPCA(alpha=0.5, p=1)])
        ours.set_random_seed(seed)
        theirs.set_random_seed(seed)
        a, b = ours(image=image)["image"], theirs(image=image)["image"]
        assert a.dtype == np.uint8 and not np.array_equal(a, image)
        assert np.abs(a.astype(int) - b).max() <= 1 and (a != b).mean() < 0.05, seed  # float32 vs 64 rounding


def test_augment_compression_same_quality_every_frame():
    import albumentations as A

    clip = np.stack([cv2.GaussianBlur(_texture(s, 32), (5, 5), 1.5) for s in range(4)])
    aug = build_clip_augment(_all_off(compression_p=1.0, compression_quality=(20, 95)), 32)
    qualities = set()
    for seed in range(5):
        random.seed(seed)
        out = aug(clip)
        matches = [q for q in range(20, 96)
                   if all(np.array_equal(out[i], A.ImageCompression(quality_range=(q, q), p=1)(image=f)["image"])
                          for i, f in enumerate(clip))]
        assert len(matches) >= 1, seed  # every frame is that frame's JPEG at one shared quality
        qualities.add(matches[0])
    assert len(qualities) > 1


def test_augment_same_geometry_on_different_frames():
    # A bright and a dim copy of one square: a shared flip/affine keeps dim ≈ bright · 100/250.
    a = np.zeros((32, 32, 3), np.uint8)
    a[4:14, 6:20] = 250
    b = (a // 250 * 100).astype(np.uint8)
    clip = np.stack([a, b, a, b])
    aug = build_clip_augment(_all_off(hflip_p=0.5, affine_p=1.0), 32)
    moved = 0
    for seed in range(20):
        random.seed(seed)
        out = aug(clip).astype(np.float32)
        assert np.array_equal(out[0], out[2]) and np.array_equal(out[1], out[3])
        assert np.abs(out[1] - out[0] * 100 / 250).max() <= 1.0, seed
        moved += not np.array_equal(out[0], a)
    assert moved == 20
    flips = build_clip_augment(_all_off(hflip_p=0.5), 32)
    seen = set()
    for seed in range(20):
        random.seed(seed)
        out = flips(clip)
        flipped = np.array_equal(out[0], a[:, ::-1])
        assert np.array_equal(out[1], b[:, ::-1] if flipped else b)
        seen.add(flipped)
    assert seen == {True, False}


def test_augment_each_step_switchable():
    clip = np.stack([_texture(1)] * 2)
    plain = resize_clip(clip, 24)
    random.seed(0)
    assert np.array_equal(build_clip_augment(_all_off(), 24)(clip), plain)
    assert np.array_equal(build_clip_augment(_all_on(enabled=False), 24)(clip), plain)
    assert np.array_equal(build_clip_augment(None, 24)(clip), plain)
    for p in PROBS:
        aug = build_clip_augment(_all_off(**{p: 1.0}), 24)
        changed = False
        for seed in range(3):
            random.seed(seed)
            changed |= not np.array_equal(aug(clip), plain)
        assert changed, p


def test_augment_reproducible_and_varied():
    clip = np.stack([_texture(2)] * 2)
    aug = build_clip_augment(VideoAugmentConfig(), 24)
    random.seed(5)
    first = [aug(clip) for _ in range(4)]
    random.seed(5)
    assert all(np.array_equal(x, y) for x, y in zip(first, [aug(clip) for _ in range(4)], strict=True))
    assert len({x.tobytes() for x in first}) > 1


@pytest.mark.parametrize("kw, field", [
    ({"noise_p": 1.5}, "noise_p"), ({"compression_quality": (90, 50)}, "compression_quality"),
    ({"blur_kernel": 4}, "blur_kernel"), ({"scale_limit": 1.0}, "scale_limit"),
    ({"brightness_contrast": False, "fancy_pca": False, "hue_saturation": False}, "color_p"),
])
def test_augment_config_validate(kw, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        VideoAugmentConfig(**kw).validate()


def test_resize_clip():
    clip = np.stack([_texture(3, 64)] * 3)
    out = resize_clip(clip, 32)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8
    assert resize_clip(out, 32) is out
    assert resize_clip(np.zeros((2, 20, 40, 3), np.uint8), 32).shape == (2, 32, 32, 3)  # non-square: pad


def test_augment_steps_drawn_independently():
    # albumentations' Compose.set_random_seed gives every step the same seed (equal p-draws);
    # each step must get its own, or flip and grey would always come together.
    img = np.full((16, 16, 3), (0, 200, 0), np.uint8)
    img[:, :4] = (255, 0, 0)
    aug = build_clip_augment(_all_off(hflip_p=0.5, gray_p=0.5), 16)
    seen = set()
    for seed in range(40):
        random.seed(seed)
        out = aug(img[None])[0]
        flipped, grey = not np.array_equal(out[:, -1], out[:, 8]), out[0, 8, 0] == out[0, 8, 1]
        seen.add((flipped, bool(grey)))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_lowpass_blurs_every_frame_and_only_when_asked():
    import torch

    from deepfake_ssat.data.video import clip_to_tensor

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    mean, std = torch.zeros(3, 1, 1, 1), torch.ones(3, 1, 1, 1)
    sharp = clip_to_tensor(frames, 32, mean, std)
    soft = clip_to_tensor(frames, 32, mean, std, lowpass_sigma=2.0)
    assert torch.equal(sharp, torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255)
    # high frequencies gone: neighbouring pixels differ far less, in every frame
    for t in range(4):
        assert soft[:, t].diff(dim=-1).abs().mean() < 0.25 * sharp[:, t].diff(dim=-1).abs().mean()
    assert soft.mean().item() == pytest.approx(sharp.mean().item(), abs=0.02)
