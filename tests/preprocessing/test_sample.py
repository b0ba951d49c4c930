"""Sample datasets in the official DFDC / FF++ layouts (preprocessing.sample)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from preprocessing.datasets import FFPP_METHODS
from preprocessing.sample import ASTRONAUT_LANDMARKS, add_arguments, run_from_args, write_sample_dataset

decord = pytest.importorskip("decord")

FRAMES, SIZE = 8, 128


def _read(path: Path) -> np.ndarray:
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy()  # (T, H, W, 3) uint8


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ffpp(tmp_path_factory) -> Path:
    return write_sample_dataset("ffpp", tmp_path_factory.mktemp("ffpp"), videos=6, frames=FRAMES, size=SIZE)


@pytest.fixture(scope="module")
def dfdc(tmp_path_factory) -> Path:
    return write_sample_dataset("dfdc", tmp_path_factory.mktemp("dfdc"), videos=4, frames=FRAMES, size=SIZE)


# ----------------------------------------------------------------------------- layouts


def test_ffpp_tree_matches_split_pairs(ffpp: Path):
    splits = {s: json.loads((ffpp / "splits" / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    assert all(splits.values()), splits  # every split has at least one pair
    pairs = [tuple(p) for ps in splits.values() for p in ps]
    ids = [i for p in pairs for i in p]
    assert len(ids) == len(set(ids)) == 6  # each id in exactly one pair, so in exactly one split
    assert all(isinstance(i, str) and len(i) == 3 and i.isdigit() for i in ids)

    expected = {f"original_sequences/youtube/c23/videos/{i}.mp4" for i in ids}
    for method in FFPP_METHODS:
        for a, b in pairs:
            expected |= {f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4",
                         f"manipulated_sequences/{method}/c23/videos/{b}_{a}.mp4"}
    found = {str(p.relative_to(ffpp)) for p in ffpp.rglob("*.mp4")}
    assert found == expected  # every video in the tree comes from the pairs, and all are there


def test_dfdc_metadata_and_test_labels(dfdc: Path):
    parts = sorted(dfdc.glob("dfdc_train_part_*"))
    assert len(parts) >= 2
    n_real = n_fake = 0
    for part in parts:
        meta = json.loads((part / "metadata.json").read_text())
        assert {p.name for p in part.glob("*.mp4")} == set(meta)
        for name, row in meta.items():
            assert row["split"] == "train" and row["label"] in ("REAL", "FAKE")
            if row["label"] == "REAL":
                n_real += 1
                assert row["original"] is None
            else:
                n_fake += 1
                assert meta[row["original"]]["label"] == "REAL"  # original present, same part
                assert row["original"] != name
    assert n_real == 4 and n_fake == 4  # balanced by default

    with open(dfdc / "test" / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"filename", "label"}
    assert {r["label"] for r in rows} == {"0", "1"}
    assert {r["filename"] for r in rows} == {p.name for p in (dfdc / "test").glob("*.mp4")}
    train_names = {p.name for part in parts for p in part.glob("*.mp4")}
    assert not train_names & {r["filename"] for r in rows}


def test_videos_decode_with_requested_shape(ffpp: Path, dfdc: Path):
    videos = list(ffpp.rglob("*.mp4"))[:6] + list(dfdc.rglob("*.mp4"))[:6]
    for path in videos:
        clip = _read(path)
        assert clip.shape == (FRAMES, SIZE, SIZE, 3), path
        assert clip.std() > 10  # not blank


def test_ground_truth_faces_recorded(ffpp: Path):
    info = json.loads((ffpp / "sample_faces.json").read_text())
    assert "not a benchmark" in info["note"]
    reals = [p for p, v in info["videos"].items() if v["method"] == "real"]
    assert len(reals) == 6 and set(info["faces"]) == set(reals)
    for p, v in info["videos"].items():
        assert (ffpp / p).is_file()
        if v["method"] != "real":
            assert v["original"] in info["faces"] and v["donor"] in info["faces"]
    boxes = np.array(info["faces"][reals[0]]["boxes"])
    assert boxes.shape == (FRAMES, 4)
    side = boxes[:, 2:] - boxes[:, :2]
    assert (side > 0.15 * SIZE).all() and (side < 0.8 * SIZE).all()
    assert np.abs(np.diff(boxes, axis=0)).max() > 0  # the camera moves


# ----------------------------------------------------------------------------- the fakes


def _region_masks(box, shape, margin=1.3):
    x1, y1, x2, y2 = box
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    inside = (np.abs(xx - cx) < 0.4 * w) & (np.abs(yy - cy) < 0.45 * h)
    outside = (np.abs(xx - cx) > margin * w / 2) | (np.abs(yy - cy) > margin * h / 2)
    return inside, outside


@pytest.fixture(scope="module")
def ffpp_raw(tmp_path_factory) -> Path:
    """Lossless (``raw``) sample: fake minus original is exactly the manipulation, no codec noise."""
    return write_sample_dataset("ffpp", tmp_path_factory.mktemp("ffpp_raw"), videos=6, frames=FRAMES,
                                size=SIZE, compression="raw")


def _face_vs_rest(root: Path, method: str, n: int = 3) -> tuple[list[float], list[float]]:
    """Mean |fake - original| inside the face box and outside 1.3x the box, per frame."""
    info = json.loads((root / "sample_faces.json").read_text())
    fakes = [p for p, v in info["videos"].items() if v["method"] == method]
    assert len(fakes) == 6
    d_in, d_out = [], []
    for fake in fakes[:n]:
        orig = info["videos"][fake]["original"]
        diff = np.abs(_read(root / orig).astype(np.float32) - _read(root / fake)).mean(-1)  # (T, H, W)
        for t, box in enumerate(info["faces"][orig]["boxes"]):
            inside, outside = _region_masks(box, diff.shape[1:])
            d_in.append(float(diff[t][inside].mean()))
            d_out.append(float(diff[t][outside].mean()))
    return d_in, d_out


@pytest.mark.parametrize("method", FFPP_METHODS)
def test_fakes_change_the_face_not_the_frame(ffpp_raw: Path, ffpp: Path, method: str):
    d_in, d_out = _face_vs_rest(ffpp_raw, method)
    assert min(d_in) > 3.0, d_in  # every frame visibly changed in the face (0-255 levels)...
    assert max(d_out) < 0.05, d_out  # ...and nothing changed away from it (lossless)
    # after c23 compression the codec adds noise everywhere, the face still stands out
    d_in, d_out = _face_vs_rest(ffpp, method, n=2)
    assert np.mean(d_in) > 2.5 * np.mean(d_out), (np.mean(d_in), np.mean(d_out))


def test_neuraltextures_flicker(ffpp_raw: Path):
    """The re-synthesised mouth texture changes from frame to frame."""
    info = json.loads((ffpp_raw / "sample_faces.json").read_text())
    fake = next(p for p, v in info["videos"].items() if v["method"] == "NeuralTextures")
    orig = info["videos"][fake]["original"]
    a, b = _read(ffpp_raw / orig).astype(np.float32), _read(ffpp_raw / fake).astype(np.float32)
    res = (b - a).mean(-1)  # residual of the manipulation, (T, H, W)
    masks = [_region_masks(box, res.shape[1:])[0] for box in info["faces"][orig]["boxes"]]
    means = [res[t][m].mean() for t, m in enumerate(masks)]
    spatial = [res[t][m].std() for t, m in enumerate(masks)]
    assert np.std(means) > 0.3 or np.std(spatial) > 0.5


# ----------------------------------------------------------------------------- determinism


def test_deterministic_by_seed(tmp_path: Path):
    """Same seed: the same frames given to the encoder (``frames_sha1``) and every file byte for byte."""
    kw = dict(videos=2, frames=4, size=64)
    a_root = write_sample_dataset("dfdc", tmp_path / "a", seed=3, **kw)
    a = _digest(a_root)
    assert a == _digest(write_sample_dataset("dfdc", tmp_path / "b", seed=3, **kw))
    info = json.loads((a_root / "sample_faces.json").read_text())["videos"]
    assert len({v["frames_sha1"] for v in info.values()}) == len(info)  # a real digest, one per video
    c_root = write_sample_dataset("dfdc", tmp_path / "c", seed=4, **kw)
    c = _digest(c_root)
    assert set(a) != set(c)  # different random DFDC names...
    va = sorted(p for p in (tmp_path / "a").rglob("*.mp4"))[0]
    vc = sorted(p for p in c_root.rglob("*.mp4"))[0]
    assert np.abs(_read(va).astype(int) - _read(vc)).mean() > 5  # ...and different footage


# ----------------------------------------------------------------------------- options and errors


def test_compression_folder_and_cli(tmp_path: Path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "s"
    args = parser.parse_args(["--layout", "ffpp", "--out", str(out), "--videos", "6", "--frames", "2",
                              "--size", "64", "--compression", "c40"])
    assert run_from_args(args) == 0
    assert len(list((out / "original_sequences/youtube/c40/videos").glob("*.mp4"))) == 6
    assert len(list((out / "manipulated_sequences/FaceSwap/c40/videos").glob("*_*.mp4"))) == 6
    assert run_from_args(args) == 2  # non-empty output refused, one logged line, no traceback
    (out / "keep.txt").write_text("user file")
    args = parser.parse_args(["--layout", "ffpp", "--out", str(out), "--frames", "2", "--size", "64",
                              "--videos", "6", "--overwrite"])
    assert run_from_args(args) == 0
    assert (out / "keep.txt").exists()  # overwrite removes only the sample's own files
    assert [p.name for p in (out / "original_sequences/youtube").iterdir()] == ["c23"]  # old sample replaced


def test_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="layout"):
        write_sample_dataset("celebdf", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="source"):
        write_sample_dataset("dfdc", tmp_path / "x", source=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no media")
    with pytest.raises(ValueError, match="no images or videos"):
        write_sample_dataset("dfdc", tmp_path / "x", source=tmp_path / "empty")
    with pytest.raises(ValueError, match="even"):
        write_sample_dataset("ffpp", tmp_path / "x", videos=7)
    with pytest.raises(ValueError, match="compression"):
        write_sample_dataset("ffpp", tmp_path / "x", compression="high")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        write_sample_dataset("dfdc", tmp_path / "full", videos=2, frames=2, size=64)


def _astronaut_sources(folder: Path) -> None:
    """A small source folder: two stills and a short video of the portrait, moving."""
    import av
    import cv2
    from skimage import data

    folder.mkdir()
    img = data.astronaut()
    cv2.imwrite(str(folder / "still.png"), cv2.cvtColor(img[:400, 40:440], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "still_small.jpg"), cv2.cvtColor(cv2.resize(img, (300, 300)), cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("ignored")
    with av.open(str(folder / "clip.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
        for t in range(6):
            frame = np.ascontiguousarray(img[20 + 4 * t:340 + 4 * t, 60 + 3 * t:380 + 3 * t])
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_source_folder(tmp_path: Path):
    pytest.importorskip("facenet_pytorch")
    _astronaut_sources(tmp_path / "src")
    root = write_sample_dataset("dfdc", tmp_path / "out", videos=3, source=tmp_path / "src",
                                frames=FRAMES, size=SIZE)
    info = json.loads((root / "sample_faces.json").read_text())
    used = {v["source"] for v in info["videos"].values()}
    assert used == {"clip.mp4", "still.png", "still_small.jpg"}
    for path in list(root.rglob("*.mp4"))[:4]:
        assert _read(path).shape == (FRAMES, SIZE, SIZE, 3)


# ----------------------------------------------------------------------------- MTCNN


@pytest.mark.slow
def test_mtcnn_finds_the_face_in_reals_and_every_fake(ffpp: Path):
    torch = pytest.importorskip("torch")
    facenet = pytest.importorskip("facenet_pytorch")
    from skimage import data

    torch.set_num_threads(2)
    mtcnn = facenet.MTCNN(keep_all=True, device="cpu")
    # the hardcoded landmarks of the default source are what MTCNN sees
    _, probs, lms = mtcnn.detect(data.astronaut(), landmarks=True)
    assert probs[0] > 0.99 and np.abs(lms[0] - ASTRONAUT_LANDMARKS).max() < 3

    info = json.loads((ffpp / "sample_faces.json").read_text())
    real = sorted(info["faces"])[0]
    videos = [real] + [p for p, v in info["videos"].items() if v["original"] == real]
    assert {info["videos"][p]["method"] for p in videos} == {"real", *FFPP_METHODS}
    truth = np.array(info["faces"][real]["boxes"])
    for p in videos:
        clip = _read(ffpp / p)
        for t in (0, FRAMES - 1):
            boxes, probs = mtcnn.detect(clip[t])
            assert boxes is not None and probs.max() > 0.9, (p, t)
            best = boxes[probs.argmax()]
            ix = max(0, min(best[2], truth[t, 2]) - max(best[0], truth[t, 0]))
            iy = max(0, min(best[3], truth[t, 3]) - max(best[1], truth[t, 1]))
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            iou = ix * iy / (area(best) + area(truth[t]) - ix * iy)
            assert iou > 0.5, (p, t, iou)
