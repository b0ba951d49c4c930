"""Real sample clips: one still or short source animated by a virtual camera (pan, zoom, roll),
a lighting change, sensor noise and JPEG-like degradation; every random choice drawn once per video."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .geometry import apply_affine, ease
from .sources import Source, mirror_frame

# Pixel sizes derived from the face are in units of d; the virtual camera keeps d at this fraction
# of the frame side (face box about 1/3 of the frame, like a portrait video).
_D_FRAC_RANGE = (0.12, 0.16)


@dataclass
class RealSpec:
    """Everything random about one real video, drawn once from its own seed."""

    source: Source
    mirror: bool
    gains: np.ndarray
    gamma: float
    d_frac: tuple[float, float]
    offset: tuple[np.ndarray, np.ndarray]  # camera centre offset from the face, units of d
    rot: tuple[float, float, float, float]  # base deg, amplitude deg, cycles, phase
    bright: tuple[float, float]
    grad: tuple[float, float, float]  # lighting gradient direction (rad), amplitude, cycles
    noise: float
    jpeg: int
    seed: tuple[int, ...]
    _graded: dict = field(default_factory=dict, repr=False)

    @classmethod
    def draw(cls, source: Source, seed: tuple[int, ...]) -> RealSpec:
        rng = np.random.default_rng(seed)
        lo, hi = _D_FRAC_RANGE
        d0 = rng.uniform(lo, hi)
        return cls(
            source=source,
            mirror=bool(rng.integers(2)),
            gains=rng.uniform(0.88, 1.12, 3).astype(np.float32),
            gamma=float(rng.uniform(0.85, 1.15)),
            d_frac=(d0, float(np.clip(d0 * math.exp(rng.uniform(-0.18, 0.18)), lo * 0.9, hi * 1.1))),
            offset=(rng.uniform(-0.9, 0.9, 2), rng.uniform(-0.9, 0.9, 2)),
            rot=(rng.uniform(-5, 5), rng.uniform(1, 4), rng.uniform(0.3, 1.0), rng.uniform(0, 2 * math.pi)),
            bright=(rng.uniform(0.8, 1.15), rng.uniform(0.8, 1.15)),
            grad=(rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.2), rng.uniform(0.2, 0.8)),
            noise=float(rng.uniform(0.004, 0.02)),
            jpeg=int(rng.integers(60, 92)),
            seed=seed,
        )

    def camera(self, t: int, n: int, size: int) -> np.ndarray:
        """2x3 affine from (mirrored) source pixels to output pixels at frame t."""
        e = ease(t, n)
        d_src = self.source.eye_mouth
        centre = self.source.face_centre.copy()
        if self.mirror:
            centre[0] = self.source.frames[0].shape[1] - 1 - centre[0]
        off = (1 - e) * self.offset[0] + e * self.offset[1]
        c = centre + off * d_src
        scale = ((1 - e) * self.d_frac[0] + e * self.d_frac[1]) * size / d_src
        base, amp, cycles, phase = self.rot
        theta = math.radians(base + amp * math.sin(2 * math.pi * cycles * t / max(n, 1) + phase))
        # keep the (rotated) camera window inside the source image: no mirrored borders
        h, w = self.source.frames[0].shape[:2]
        ext = size / (2 * scale) * (abs(math.cos(theta)) + abs(math.sin(theta)))
        c = np.array([np.clip(c[0], ext, w - 1 - ext) if w - 1 > 2 * ext else (w - 1) / 2,
                      np.clip(c[1], ext, h - 1 - ext) if h - 1 > 2 * ext else (h - 1) / 2])
        rot = scale * np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        m = np.zeros((2, 3), np.float64)
        m[:, :2] = rot
        m[:, 2] = np.array([size / 2, size / 2]) - rot @ c
        return m

    def graded_frame(self, t: int, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
        """Source frame at t with this video's colour grade (uint8, cached) and its landmarks."""
        k = self.source.index(t)
        key = (k, mirror)
        if key not in self._graded:
            lut = np.clip(((np.arange(256) / 255.0)[:, None] ** self.gamma) * self.gains * 255 + 0.5, 0, 255)
            img = cv2.LUT(self.source.frames[k], lut.astype(np.uint8)[:, None, :])
            lm = self.source.landmarks[k]
            self._graded[key] = mirror_frame(img, lm) if mirror else (img, lm)
        return self._graded[key]

    def render(self, n: int, size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Frames (uint8 RGB, size x size) and landmarks (5, 2) of the real clip."""
        frames, lms = [], []
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) * 2 - 1
        gdir, gamp, gcyc = self.grad
        ramp = (np.cos(gdir) * xx + np.sin(gdir) * yy)[..., None].astype(np.float32)
        for t in range(n):
            img, lm = self.graded_frame(t, self.mirror)
            m = self.camera(t, n, size)
            warped = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT101)
            e = ease(t, n)
            bright = (1 - e) * self.bright[0] + e * self.bright[1]
            g = gamp * math.sin(2 * math.pi * gcyc * t / max(n, 1) + gdir)
            gain = (bright * 255.0) * (1 + g * ramp)  # (size, size, 1), in 0..255 units
            rng = np.random.default_rng((*self.seed, t))
            noise = rng.standard_normal(warped.shape, dtype=np.float32) * (self.noise * 255.0)
            x = warped.astype(np.float32) * (gain / 255.0) + noise
            u8 = np.clip(x + 0.5, 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            frames.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else u8)
            lms.append(apply_affine(m, lm))
        return frames, lms
