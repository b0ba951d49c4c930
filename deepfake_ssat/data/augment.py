"""Clip augmentation for face-track videos: the DFDC winner's recipe, one draw per clip.

The DFDC winner (selimsef/dfdc_deepfake_challenge, ``training/pipelines/train_classifier.py``)
augmented single frames with ImageCompression(60–100, p .5), GaussNoise(p .1), GaussianBlur(3,
p .05), HorizontalFlip, an isotropic resize + pad, OneOf(RandomBrightnessContrast, FancyPCA,
HueSaturationValue; p .7), ToGray(p .2) and ShiftScaleRotate(0.1, 0.2, 10°; p .5). Those are the
defaults here, in that order. For video every frame of a clip must get **the same sampled
parameters** (a flip that flickers frame to frame is itself a temporal artefact the model would
learn).

How a clip goes through them, chosen by measurement (``benchmarks/speed.py``, loader row): albumentations'
multi-image target draws once but is slow for clips (its Affine splits the 48 stacked channels into
twelve 4-channel warps; FancyPCA solves one PCA per frame), so the steps run in four stages:

- pointwise steps (noise, colour, grey) see the clip as **one tall image** (T·H × W): one draw, one
  call, and FancyPCA's colour matrix comes from the whole clip rather than from each frame (per-frame
  PCAs would differ slightly, a flicker). Noise is the one step whose *pattern* differs per frame —
  sensor noise does — while its strength is drawn once;
- the other steps (compression, blur, flip, resize, affine) run **frame by frame with one seed**,
  which replays the same parameters on every frame through albumentations' fast 3-channel path
  (JPEG must stay per frame: in a tall image the chroma upsampling would look across frame edges);
  the resize is skipped when the stored crops already have the model's size (10 ms a clip as a no-op);
- FancyPCA is albumentations' (same draws, same formula) with the colour transform applied as one
  3×4 matrix by ``cv2.transform`` instead of float64 NumPy: within one grey level, 5× faster.

albumentations 2 notes: ShiftScaleRotate is deprecated (a warning) in favour of ``Affine``, which
takes the same shift/scale/rotate; GaussNoise takes its std as a fraction of 255 (the winner's
``var_limit=(10, 50)`` on 0–255 is std 3.2–7.1, i.e. 0.012–0.028).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

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


class ClipFancyPCA(A.FancyPCA):
    """albumentations' FancyPCA (its parameter draw and formula), applied as one affine colour matrix.

    The library computes ``x + V·diag(α·λ)·(x − μ)`` over every pixel in float64 (V: eigenvectors of
    the pixel covariance, λ its eigenvalues; note no Vᵀ, unlike Krizhevsky's constant offset — kept so
    the draws mean what they mean in the library); that is the 3×4 matrix ``[I + M | −M·μ]`` on uint8
    pixels, which ``cv2.transform`` applies with rounding.
    """

    def apply(self, img: np.ndarray, alpha_vector: np.ndarray, **params) -> np.ndarray:
        if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
            return super().apply(img, alpha_vector, **params)
        pixels = img.reshape(-1, 3)
        cov, mean = cv2.calcCovarMatrix(pixels, None, cv2.COVAR_NORMAL | cv2.COVAR_ROWS | cv2.COVAR_SCALE)
        n = len(pixels)
        cov = cov * (n / max(n - 1, 1)) / 255.0**2  # np.cov's n − 1, on the library's 0–1 scale
        values, vectors = np.linalg.eigh(cov)
        order = values[::-1].argsort()
        values, vectors = values[order], vectors[:, order]
        m = vectors @ np.diag(alpha_vector * values)
        matrix = np.hstack([np.eye(3) + m, -(m @ mean.reshape(3, 1))])
        return cv2.transform(img.reshape(-1, 1, 3), matrix).reshape(img.shape)


def _resize_ops(size: int) -> list[A.BasicTransform]:
    # Isotropic: longest side to `size` (INTER_AREA when shrinking, linear when enlarging), then
    # centre-pad to a square. Face crops are square already, so this is a plain resize for them.
    return [
        A.LongestMaxSize(max_size=size, interpolation=cv2.INTER_LINEAR, area_for_downscale="image"),
        A.PadIfNeeded(min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0),
    ]


def _colour(cfg: VideoAugmentConfig) -> list:
    colour = []
    if cfg.brightness_contrast:
        colour.append(A.RandomBrightnessContrast(brightness_limit=cfg.brightness_limit,
                                                 contrast_limit=cfg.contrast_limit, p=1.0))
    if cfg.fancy_pca:
        colour.append(ClipFancyPCA(alpha=cfg.fancy_pca_alpha, p=1.0))
    if cfg.hue_saturation:
        colour.append(A.HueSaturationValue(hue_shift_limit=cfg.hue_shift, sat_shift_limit=cfg.sat_shift,
                                           val_shift_limit=cfg.val_shift, p=1.0))
    return [A.OneOf(colour, p=cfg.color_p)] if cfg.color_p > 0 and colour else []


def _stages(cfg: VideoAugmentConfig | None) -> list[tuple[str, list]]:
    """(view, steps) in the winner's order; ``resize`` marks where the resize goes."""
    if cfg is None or not cfg.enabled:
        return [("each", ["resize"])]
    compression, noise, geometric, late, affine = [], [], [], [], []
    if cfg.compression_p > 0:
        q = (int(cfg.compression_quality[0]), int(cfg.compression_quality[1]))
        compression.append(A.ImageCompression(compression_type="jpeg", quality_range=q, p=cfg.compression_p))
    if cfg.noise_p > 0:
        noise.append(A.GaussNoise(std_range=tuple(cfg.noise_std), p=cfg.noise_p))
    if cfg.blur_p > 0:
        k = cfg.blur_kernel
        geometric.append(A.GaussianBlur(blur_limit=(k, k), sigma_limit=tuple(cfg.blur_sigma), p=cfg.blur_p))
    if cfg.hflip_p > 0:
        geometric.append(A.HorizontalFlip(p=cfg.hflip_p))
    geometric.append("resize")  # as the winner: compression/noise/blur at stored size, the rest at model size
    late += _colour(cfg)
    if cfg.gray_p > 0:
        late.append(A.ToGray(p=cfg.gray_p))
    if cfg.affine_p > 0:
        s = cfg.shift_limit
        affine.append(A.Affine(translate_percent=(-s, s), scale=(1 - cfg.scale_limit, 1 + cfg.scale_limit),
                               rotate=(-cfg.rotate_limit, cfg.rotate_limit), border_mode=cv2.BORDER_CONSTANT,
                               fill=0, p=cfg.affine_p))
    return [("each", compression), ("tall", noise), ("each", geometric), ("tall", late), ("each", affine)]


def _reseed(t, rng: random.Random) -> None:
    # Compose.set_random_seed gives every child the *same* seed, so their p-draws would be equal
    # (all p=0.5 steps on together or off together). Give each node its own seed instead.
    t.set_random_seed(rng.getrandbits(32))
    for child in getattr(t, "transforms", ()):
        _reseed(child, rng)


@dataclass
class _Stage:
    view: str  # "tall": one image of T·H rows; "each": frame by frame, replaying one seed
    sized: A.Compose | None  # for clips already at the model size (no resize)
    other: A.Compose | None  # for any other clip size

    def __call__(self, frames: np.ndarray, size: int, seed: int) -> np.ndarray:
        compose = self.sized if frames.shape[1] == frames.shape[2] == size else self.other
        if compose is None:
            return frames
        if self.view == "tall":
            t, h, w, c = frames.shape
            _reseed(compose, random.Random(seed))
            return compose(image=frames.reshape(t * h, w, c))["image"].reshape(t, h, w, c)
        out = []
        for frame in frames:
            _reseed(compose, random.Random(seed))  # the same seed replays the same parameters
            out.append(compose(image=frame)["image"])
        return np.stack(out)


def _compose(steps: list, resize: list) -> A.Compose | None:
    ops = [op for step in steps for op in (resize if isinstance(step, str) else [step])]
    return A.Compose(ops) if ops else None


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
        self.stages = [
            _Stage(view, _compose(steps, []), _compose(steps, _resize_ops(size))) for view, steps in _stages(cfg)
        ]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        _check_clip(frames)
        rng = random.Random(random.getrandbits(64))
        out = np.ascontiguousarray(frames)
        for stage in self.stages:
            out = np.ascontiguousarray(stage(out, self.size, rng.getrandbits(64)), dtype=np.uint8)
        return out


def build_clip_augment(cfg: VideoAugmentConfig | None, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Training clip transform; ``cfg`` None or ``cfg.enabled`` false resizes only."""
    return ClipAugment(cfg, size)


def resize_clip(frames: np.ndarray, size: int) -> np.ndarray:
    """Evaluation: (T, H, W, 3) uint8 → (T, size, size, 3) uint8 with the training resize, no augmentation."""
    _check_clip(frames)
    if frames.shape[1] == frames.shape[2] == size:
        return frames
    return np.ascontiguousarray(A.Compose(_resize_ops(size))(images=frames)["images"])
