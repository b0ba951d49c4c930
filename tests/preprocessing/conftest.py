"""Tiny real-face videos for preprocessing tests: skimage's astronaut photo moving over a canvas,
a blank (no face) video and a corrupt file. Made once per session, copied into dataset trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from preprocessing.config import FaceCropConfig, PreprocessConfig
from preprocessing.video import write_video

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def face_frames(n: int = 24, dx: int = 2, dy: int = 1, seed: int = 0, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """The astronaut portrait (a real face MTCNN finds) scaled to 180 px, drifting over a textured canvas."""
    from skimage import data

    rng = np.random.default_rng(seed)
    w, h = size
    face = cv2.resize(data.astronaut(), (180, 180), interpolation=cv2.INTER_AREA)
    # smooth background: noise would feed MTCNN's later stages thousands of candidates (slow tests)
    background = cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (0, 0), 12)
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        f = background.copy()
        x, y = 10 + dx * t, 20 + dy * t
        f[y : y + 180, x : x + 180] = face
        frames[t] = f
    return frames


def blank_frames(n: int = 16, size: tuple[int, int] = (320, 240), seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    base = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 8)
    return np.stack([np.roll(base, t, axis=1) for t in range(n)])


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """face.mp4 (24 frames, one face), face2.mp4 (other motion), blank.mp4 (16 frames, no face), corrupt.mp4."""
    d = tmp_path_factory.mktemp("media")
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + np.random.default_rng(0).bytes(4000))
    # MPEG-4 part 2: the codec these tests' detector tolerances were measured on
    return {
        "face": write_video(d / "face.mp4", face_frames(), codec="mp4v"),
        "face2": write_video(d / "face2.mp4", face_frames(dx=1, dy=0, seed=3), codec="mp4v"),
        "blank": write_video(d / "blank.mp4", blank_frames(), codec="mp4v"),
        "corrupt": corrupt,
    }


def _fast_faces() -> FaceCropConfig:
    """Smaller crops and shorter minimum tracks so test videos stay tiny."""
    cfg = FaceCropConfig(size=64)
    cfg.tracker.min_frames = 8
    cfg.detector.min_face_size = 32
    cfg.detector.every = 8
    return cfg


@pytest.fixture
def fast_faces():
    return _fast_faces


@pytest.fixture
def make_cfg():
    """make_cfg(root, out, dataset='folder', **fields) -> a validated in-process PreprocessConfig."""

    def make(root: Path, out: Path, dataset: str = "folder", **kw) -> PreprocessConfig:
        kw.setdefault("workers", 0)
        cfg = PreprocessConfig(dataset=dataset, root=str(root), out=str(out), progress=False, faces=_fast_faces(), **kw)
        cfg.validate()
        return cfg

    return make


@pytest.fixture
def place():
    """place(src, dst): copy a media file into a dataset tree."""

    def copy(src: Path, dst: Path) -> Path:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        return dst

    return copy
