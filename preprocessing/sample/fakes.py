"""The four procedural manipulations of the sample generator, named after FF++'s methods. Each works
per frame on a window around the face, in the coordinates of the moving camera, so it follows the face."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import ellipse_mask, eye_angle, face_axes, face_box, face_outline, polygon_mask, similarity
from .real import RealSpec


@dataclass
class FakeCtx:
    """Per-fake-video state handed to a manipulation: target, donor, and its own random stream."""

    target: RealSpec
    donor: RealSpec
    donor_mirror: bool
    n: int
    seed: tuple[int, ...]

    def rng(self, *extra: int) -> np.random.Generator:
        return np.random.default_rng((*self.seed, *extra))

    def donor_on(self, t: int, lm: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Donor face at frame t (its own grading), aligned onto target landmarks ``lm``; float RGB."""
        img, dlm = self.donor.graded_frame(t, self.donor_mirror)
        m = similarity(dlm.astype(np.float64), lm.astype(np.float64))
        warped = cv2.warpAffine(img, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT101)
        return warped.astype(np.float32) / 255.0


def _match_colour(src: np.ndarray, ref: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """Move src's per-channel mean/std inside mask towards ref's by ``strength``."""
    w = mask[..., 0] > 0.5
    if w.sum() < 16:
        return src
    ms, ss = src[w].mean(0), src[w].std(0) + 1e-4
    mr, sr = ref[w].mean(0), ref[w].std(0) + 1e-4
    matched = (src - ms) / ss * sr + mr
    return (1 - strength) * src + strength * matched


def _deepfakes(x: np.ndarray, lm: np.ndarray, t: int, ctx: FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    eyes, mouth, d, u, v = face_axes(lm)
    centre = eyes + 0.3 * (mouth - eyes)
    face = ctx.donor_on(t, lm, x.shape)
    mask = ellipse_mask(x.shape[:2], centre, (1.0 * d, 1.38 * d), eye_angle(u), feather=0.07 * d)
    face = _match_colour(face, x, mask, strength=float(p.uniform(0.4, 0.7)))
    # autoencoder look: the swapped face is synthesised at ~64 px across and upscaled
    res = float(p.uniform(52, 72))
    f = min(1.0, res / (2.4 * d))
    if f < 1.0:
        small = cv2.resize(face, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        face = cv2.resize(small, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_CUBIC)
    face = cv2.GaussianBlur(face, (0, 0), 0.03 * d)
    return x * (1 - mask) + face * mask


def _face2face(x: np.ndarray, lm: np.ndarray, t: int, ctx: FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    open_max, widen, cycles, phase = p.uniform(0.35, 0.55), p.uniform(0.1, 0.25), p.uniform(1, 2), p.uniform(0, 6.3)
    a = open_max * (0.5 - 0.5 * math.cos(2 * math.pi * cycles * t / max(ctx.n, 1) + phase))
    eyes, mouth, d, u, v = face_axes(lm)
    centre = mouth + 0.05 * d * v
    yy, xx = np.mgrid[0:x.shape[0], 0:x.shape[1]].astype(np.float32)
    rx, ry = xx - centre[0], yy - centre[1]
    cu, cv_ = rx * u[0] + ry * u[1], rx * v[0] + ry * v[1]  # coordinates across / down the face
    # smooth bump with compact support: the warp stays inside the lower face
    w = np.clip(1 - (cu / (1.1 * d)) ** 2 - (cv_ / (0.7 * d)) ** 2, 0, 1) ** 2
    # inverse map: sample closer to the mouth centre -> the region is stretched (mouth opens/widens)
    du = -(widen * (0.3 + a)) * cu * w
    dv = -a * cv_ * w
    map_x = xx + du * u[0] + dv * v[0]
    map_y = yy + du * u[1] + dv * v[1]
    warped = cv2.remap(x, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    # darker mouth interior as it opens
    inner = ellipse_mask(x.shape[:2], centre, (0.3 * d, max(0.5, 0.14 * d * a / open_max)), eye_angle(u),
                          feather=0.06 * d)
    warped = warped * (1 - inner * np.array([0.3, 0.45, 0.45], np.float32))  # dark, reddish
    # the face is re-rendered from a fitted model: smoother, flatter in tone, slightly brighter
    face = ellipse_mask(x.shape[:2], eyes + 0.3 * (mouth - eyes), (0.95 * d, 1.3 * d), eye_angle(u),
                         feather=0.12 * d)
    rerender = cv2.GaussianBlur(warped, (0, 0), 0.025 * d)
    mean = rerender.mean((0, 1))
    rerender = ((rerender - mean) * float(p.uniform(0.78, 0.88)) + mean) * float(p.uniform(1.05, 1.1))
    return warped * (1 - face) + rerender * face


def _faceswap(x: np.ndarray, lm: np.ndarray, t: int, ctx: FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    eyes, mouth, d, u, v = face_axes(lm)
    centre = eyes + 0.32 * (mouth - eyes)
    face = ctx.donor_on(t, lm, x.shape)
    # colour mismatch: donor texture with a tint and contrast of its own
    warm, a = float(p.choice([-1, 1])), float(p.uniform(0.04, 0.08))  # warmer or cooler than the target
    tint = np.array([1 + warm * a, 1 + warm * a / 3, 1 - warm * a]) * p.uniform(0.92, 1.08)
    region = ellipse_mask(x.shape[:2], centre, (0.9 * d, 1.2 * d), eye_angle(u), feather=0)
    face = _match_colour(face, x, region, strength=0.6)  # a crude colour correction, then off again
    face = (face - face.mean((0, 1))) * float(p.uniform(1.05, 1.2)) + face.mean((0, 1))
    face = face * tint.astype(np.float32)
    # hull of a landmark fit: a jittered polygon (fixed per video), hard edge
    pts = face_outline(centre, d, u, v, 0.95, 1.3, 1 + p.uniform(-0.06, 0.06, 14))
    mask = polygon_mask(x.shape[:2], pts, feather=0.6)
    return x * (1 - mask) + face * mask


def _neuraltextures(x: np.ndarray, lm: np.ndarray, t: int, ctx: FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    amp = float(p.uniform(0.06, 0.09))
    q = ctx.rng(1, t)  # per-frame stream: the flicker
    eyes, mouth, d, u, v = face_axes(lm)
    centre = mouth + 0.12 * d * v
    mask = ellipse_mask(x.shape[:2], centre, (0.95 * d, 0.62 * d), eye_angle(u), feather=0.12 * d)
    tex = cv2.GaussianBlur(x, (0, 0), 0.03 * d)  # fine detail (teeth, lip lines) lost
    field = q.normal(0, 1, (5, 5, 1)).astype(np.float32)  # low-frequency texture, new every frame
    field = cv2.resize(field, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_CUBIC)[..., None]
    tex = tex * (1 + q.uniform(-0.05, 0.05)) + amp * q.uniform(0.5, 1.5) * field + q.normal(0, 0.025, 3)
    # synthesised lips drift towards a flatter colour
    mean = tex[mask[..., 0] > 0.5].mean(0) if (mask > 0.5).any() else tex.mean((0, 1))
    tex = (0.8 * tex + 0.2 * mean).astype(np.float32)
    return x * (1 - mask) + tex * mask


_MANIPULATIONS: dict[str, Callable[[np.ndarray, np.ndarray, int, FakeCtx], np.ndarray]] = {
    "Deepfakes": _deepfakes,
    "Face2Face": _face2face,
    "FaceSwap": _faceswap,
    "NeuralTextures": _neuraltextures,
}


def render_fake(method: str, real: list[np.ndarray], lms: list[np.ndarray], ctx: FakeCtx) -> list[np.ndarray]:
    fn = _MANIPULATIONS[method]
    out = []
    for t, (frame, lm) in enumerate(zip(real, lms, strict=True)):
        # work on a window around the face only (every mask lies well inside it)
        x1, y1, x2, y2 = face_box(lm)
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.75 * max(x2 - x1, y2 - y1)
        h, w = frame.shape[:2]
        l, r = max(0, int(cx - half)), min(w, int(math.ceil(cx + half)))
        top, bot = max(0, int(cy - half)), min(h, int(math.ceil(cy + half)))
        fake = frame.copy()
        if r - l >= 4 and bot - top >= 4:
            x = frame[top:bot, l:r].astype(np.float32) / 255.0
            y = fn(x, lm - np.array([l, top], np.float32), t, ctx)
            fake[top:bot, l:r] = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
        out.append(fake)
    return out
