"""Clip augmentation for face-track videos: the DFDC winner's recipe, one draw per clip.

The DFDC winner (selimsef/dfdc_deepfake_challenge, ``training/pipelines/train_classifier.py``)
augmented single frames with ImageCompression(60–100, p .5), GaussNoise(p .1), GaussianBlur(3,
p .05), HorizontalFlip, an isotropic resize + pad, OneOf(RandomBrightnessContrast, FancyPCA,
HueSaturationValue; p .7), ToGray(p .2) and ShiftScaleRotate(0.1, 0.2, 10°; p .5). Those are the
defaults here. For video every frame of a clip must get **the same sampled parameters** (a flip
that flickers frame to frame is itself a temporal artefact the model would learn), so the whole
(T, H, W, 3) stack goes through one albumentations 2 call as the ``images`` target, which samples
each transform's parameters once and applies them to every frame.

albumentations 2 notes: ShiftScaleRotate is deprecated (a warning) in favour of ``Affine``, which
takes the same shift/scale/rotate; GaussNoise takes its std as a fraction of 255 (the winner's
``var_limit=(10, 50)`` on 0–255 is std 3.2–7.1, i.e. 0.012–0.028).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np

from ..config import VideoAugmentConfig


def _resize_ops(size: int) -> list[A.BasicTransform]:
    # Isotropic: longest side to `size` (INTER_AREA when shrinking, linear when enlarging), then
    # centre-pad to a square. Face crops are square already, so this is a plain resize for them.
    return [
        A.LongestMaxSize(max_size=size, interpolation=cv2.INTER_LINEAR, area_for_downscale="image"),
        A.PadIfNeeded(min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0),
    ]


def _check_clip(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected a (T, H, W, 3) uint8 clip, got {frames.shape} {frames.dtype}")


def _transforms(cfg: VideoAugmentConfig, size: int) -> list:
    ops: list = []
    if cfg.compression_p > 0:
        q = (int(cfg.compression_quality[0]), int(cfg.compression_quality[1]))
        ops.append(A.ImageCompression(compression_type="jpeg", quality_range=q, p=cfg.compression_p))
    if cfg.noise_p > 0:
        ops.append(A.GaussNoise(std_range=tuple(cfg.noise_std), p=cfg.noise_p))
    if cfg.blur_p > 0:
        k = cfg.blur_kernel
        ops.append(A.GaussianBlur(blur_limit=(k, k), sigma_limit=tuple(cfg.blur_sigma), p=cfg.blur_p))
    if cfg.hflip_p > 0:
        ops.append(A.HorizontalFlip(p=cfg.hflip_p))
    ops += _resize_ops(size)  # as the winner: compression/noise/blur at stored size, the rest at model size
    colour = []
    if cfg.brightness_contrast:
        colour.append(A.RandomBrightnessContrast(brightness_limit=cfg.brightness_limit,
                                                 contrast_limit=cfg.contrast_limit, p=1.0))
    if cfg.fancy_pca:
        colour.append(A.FancyPCA(alpha=cfg.fancy_pca_alpha, p=1.0))
    if cfg.hue_saturation:
        colour.append(A.HueSaturationValue(hue_shift_limit=cfg.hue_shift, sat_shift_limit=cfg.sat_shift,
                                           val_shift_limit=cfg.val_shift, p=1.0))
    if cfg.color_p > 0 and colour:
        ops.append(A.OneOf(colour, p=cfg.color_p))
    if cfg.gray_p > 0:
        ops.append(A.ToGray(p=cfg.gray_p))
    if cfg.affine_p > 0:
        s = cfg.shift_limit
        ops.append(A.Affine(translate_percent=(-s, s), scale=(1 - cfg.scale_limit, 1 + cfg.scale_limit),
                            rotate=(-cfg.rotate_limit, cfg.rotate_limit), border_mode=cv2.BORDER_CONSTANT,
                            fill=0, p=cfg.affine_p))
    return ops


def _reseed(t, rng: random.Random) -> None:
    # Compose.set_random_seed gives every child the *same* seed, so their p-draws would be equal
    # (all p=0.5 steps on together or off together). Give each node its own seed instead.
    t.set_random_seed(rng.getrandbits(32))
    for child in getattr(t, "transforms", ()):
        _reseed(child, rng)


class ClipAugment:
    """(T, H, W, 3) uint8 → (T, size, size, 3) uint8, one parameter draw shared by all frames.

    Randomness comes from Python's global ``random`` (one seed drawn per call), which the training
    engine reseeds per epoch and DataLoader seeds per worker, so runs are reproducible.
    """

    def __init__(self, cfg: VideoAugmentConfig | None, size: int):
        if size <= 0:
            raise ValueError(f"size: must be positive, got {size}")
        if cfg is not None:
            cfg.validate()
        self.size = size
        ops = _transforms(cfg, size) if cfg is not None and cfg.enabled else _resize_ops(size)
        self.compose = A.Compose(ops)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        _check_clip(frames)
        _reseed(self.compose, random.Random(random.getrandbits(64)))
        out = self.compose(images=frames)["images"]
        return np.ascontiguousarray(out, dtype=np.uint8)


def build_clip_augment(cfg: VideoAugmentConfig | None, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Training clip transform; ``cfg`` None or ``cfg.enabled`` false resizes only."""
    return ClipAugment(cfg, size)


def resize_clip(frames: np.ndarray, size: int) -> np.ndarray:
    """Evaluation: (T, H, W, 3) uint8 → (T, size, size, 3) uint8 with the training resize, no augmentation."""
    _check_clip(frames)
    if frames.shape[1] == frames.shape[2] == size:
        return frames
    return np.ascontiguousarray(A.Compose(_resize_ops(size))(images=frames)["images"])
