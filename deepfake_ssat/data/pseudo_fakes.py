"""Self-blended video pseudo-fakes: a real clip whose face region is replaced by an altered copy of itself.

The blend of Self-Blended Images (Shiohara & Yamasaki, CVPR 2022) for clips, kept consistent over time as
in video-level blending: one parameter draw per clip (the copy's colour, brightness, contrast, sharpness,
scale and shift; the mask's size, outline, edge blur and opacity), applied to every frame through a mask
that follows that frame's five landmarks. ``jitter`` > 0 adds a small per-frame wobble of the mask, a
temporal artefact of its own. Pixels where the mask is 0 are the real clip's, unchanged.

The face outline and the soft polygon mask are the sample generator's (``preprocessing.sample.geometry``),
which blends its procedural fakes along the same five points.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from preprocessing.sample.geometry import face_axes, face_outline, polygon_mask

from ..config import PseudoFakeConfig

_OUTLINE_POINTS = 24
# Face ellipse half-axes in units of d, about eye centre + 0.3 d towards the mouth (the sample's Deepfakes mask).
_ACROSS, _DOWN, _CENTRE = 1.0, 1.38, 0.3


@dataclass(frozen=True)
class BlendDraw:
    """Everything random about one pseudo-fake clip."""

    gains: np.ndarray  # (3,) per-channel gain of the copy
    offset: float  # brightness, in 0..255 units
    contrast: float
    blur: float  # sigma (px) of the copy's blur; 0 = none
    sharpen: float  # unsharp-mask amount; 0 = none
    scale: float
    shift: np.ndarray  # (2,) in units of d, across / down the face
    size: float
    radii: np.ndarray  # (_OUTLINE_POINTS,) outline factors
    feather: float  # units of d
    opacity: float


def draw(cfg: PseudoFakeConfig, rng: np.random.Generator) -> BlendDraw:
    sym = lambda r, n=None: rng.uniform(-r, r, n)  # noqa: E731
    soften = rng.random() < 0.5
    amount = float(rng.uniform(0, cfg.sharpness))
    return BlendDraw(
        gains=1 + sym(cfg.colour, 3), offset=float(sym(cfg.brightness)) * 255, contrast=1 + float(sym(cfg.contrast)),
        blur=amount if soften else 0.0, sharpen=0.0 if soften else amount, scale=1 + float(sym(cfg.scale)),
        shift=sym(cfg.shift, 2), size=float(rng.uniform(*cfg.size)), radii=1 + sym(cfg.wobble, _OUTLINE_POINTS),
        feather=float(rng.uniform(*cfg.feather)), opacity=float(rng.uniform(*cfg.opacity)),
    )


def _altered(frame: np.ndarray, p: BlendDraw, centre: np.ndarray, d: float, u: np.ndarray, v: np.ndarray
             ) -> np.ndarray:
    """The copy that is blended in: colour/brightness/contrast/sharpness changed, resized and moved."""
    x = frame.astype(np.float32)
    mean = x.mean((0, 1))
    x = (x - mean) * p.contrast + mean
    x = x * p.gains + p.offset
    if p.blur > 0.3:
        x = cv2.GaussianBlur(x, (0, 0), p.blur)
    elif p.sharpen > 0:
        x = x + p.sharpen * (x - cv2.GaussianBlur(x, (0, 0), 1.5))
    move = (p.shift[0] * u + p.shift[1] * v) * d
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, p.scale)
    m[:, 2] += move
    x = cv2.warpAffine(x, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return x


def blend_mask(shape: tuple[int, int], lm: np.ndarray, p: BlendDraw, wobble: np.ndarray | None = None) -> np.ndarray:
    """(H, W) mask in [0, 1] of one frame: the face outline of its landmarks, the draw's size, hull and edge."""
    eyes, mouth, d, u, v = face_axes(lm)
    centre = eyes + _CENTRE * (mouth - eyes)
    if wobble is not None:
        centre = centre + wobble * d
    pts = face_outline(centre, d, u, v, _ACROSS * p.size, _DOWN * p.size, p.radii)
    return polygon_mask(shape, pts, feather=p.feather * d)[..., 0] * p.opacity


def self_blend(frames: np.ndarray, landmarks: np.ndarray, p: BlendDraw, jitter: float = 0.0,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3) uint8 frames with their (T, 5, 2) landmarks → (pseudo-fake frames uint8, masks (T, H, W))."""
    if len(frames) != len(landmarks):
        raise ValueError(f"{len(landmarks)} landmark sets for {len(frames)} frames")
    out = frames.copy()
    masks = np.zeros(frames.shape[:3], np.float32)
    for t, (frame, lm) in enumerate(zip(frames, landmarks, strict=True)):
        wobble = rng.normal(0, jitter, 2) if jitter > 0 and rng is not None else None
        mask = blend_mask(frame.shape[:2], lm, p, wobble)
        eyes, mouth, d, u, v = face_axes(lm)
        copy = _altered(frame, p, eyes + _CENTRE * (mouth - eyes), d, u, v)
        inside = mask > 0
        mixed = frame[inside].astype(np.float32) * (1 - mask[inside, None]) + copy[inside] * mask[inside, None]
        out[t][inside] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        masks[t] = mask
    return out, masks
