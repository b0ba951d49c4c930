"""Shared by test_inference.py and test_app.py: tiny face videos and one trained checkpoint per test run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from preprocessing.video import write_video

__all__ = ["blank_frames", "face_frames", "sample_faces", "sample_paths", "trained_checkpoint", "write_video"]

_CACHE: dict[str, Path] = {}


def _background(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth: noise would feed MTCNN's later stages thousands of candidates (slow tests)
    return cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (0, 0), 12)


def face_frames(n: int = 24, faces: int = 1, side: int = 150, seed: int = 0) -> np.ndarray:
    """skimage's astronaut portrait (a real face MTCNN finds), ``faces`` copies side by side, drifting slowly."""
    from skimage import data

    head = data.astronaut()[20:260, 100:340]  # the head and shoulders, so the face is a third of the picture
    face = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    copies = [face if k % 2 == 0 else face[:, ::-1] for k in range(faces)]
    w, h = 40 + faces * (side + 60), side + 60
    bg = _background(w, h, seed)
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        f = bg.copy()
        for k, c in enumerate(copies):
            x, y = 20 + k * (side + 60) + t, 20 + (t % 3)
            f[y : y + side, x : x + side] = c
        frames[t] = f
    return frames


def blank_frames(n: int = 24, size: tuple[int, int] = (240, 180), seed: int = 1) -> np.ndarray:
    base = _background(*size, seed)
    return np.stack([np.roll(base, 2 * t, axis=1) for t in range(n)])


def sample_faces(base: Path) -> Path:
    """Sample DFDC tree → preprocessed faces (64 px), once per test run; returns the faces folder."""
    if "faces" in _CACHE:
        return _CACHE["faces"]
    from preprocessing import PreprocessConfig, run_preprocess
    from preprocessing.sample import write_sample_dataset

    raw = write_sample_dataset("dfdc", base / "raw", videos=8, frames=16, size=192, seed=0)
    cfg = PreprocessConfig(dataset="dfdc", root=str(raw), out=str(base / "faces"), workers=0, val_fraction=0.4,
                           progress=False)
    cfg.faces.size = 64
    cfg.faces.tracker.min_frames = 8
    run_preprocess(cfg)
    _CACHE["raw"], _CACHE["faces"] = raw, base / "faces"
    return _CACHE["faces"]


def trained_checkpoint(base: Path) -> Path:
    """``sample_faces`` → train ``test_videomae`` (SSAT, 1 epoch, CPU). Once per run."""
    if "ckpt" in _CACHE:
        return _CACHE["ckpt"]
    from deepfake_ssat.config import load_config
    from deepfake_ssat.train import train

    sample_faces(base)
    overrides = {
        "data.dataset": "dfdc", "data.root": str(base / "faces"), "data.num_workers": 0,
        "model.name": "test_videomae", "model.mode": "ssat", "model.mask_ratio": 0.75, "train.epochs": 1,
        "train.batch_size": 4, "train.warmup_epochs": 0, "train.layer_decay": "null", "train.label_smoothing": 0,
        "train.real_weight": "auto", "train.output_dir": str(base / "run"), "train.device": "cpu",
        "eval.metric": "auc", "eval.batch_size": 8,
    }
    train(load_config(overrides=[f"{k}={v}" for k, v in overrides.items()]))
    _CACHE["ckpt"] = base / "run" / "best.pt"
    return _CACHE["ckpt"]


def sample_paths() -> tuple[Path, Path]:
    """(raw sample dataset, preprocessed faces) of the cached checkpoint."""
    return _CACHE["raw"], _CACHE["faces"]
