"""Tiny sample datasets in the official DFDC and FaceForensics++ layouts.

What this is: a **pipeline check**. It writes a handful of short videos laid out exactly like the
real datasets (DESIGN §4), so that indexing, face preprocessing, training and the cross-manipulation
protocol can be exercised end to end without downloading anything. What this is not: a benchmark.
The "fakes" are four procedural manipulations loosely in the spirit of FF++'s methods, applied to
footage animated from one photograph; accuracy on them says nothing about accuracy on real
deepfakes.

Real footage: by default the portrait photo that scikit-image ships (``skimage.data.astronaut()``),
animated into clips with a virtual camera (smooth pan, zoom and small rotation), a lighting change,
sensor noise and JPEG-like degradation, then encoded as H.264. With ``source=DIR`` the frames of the
user's own images/videos are used instead (faces located with facenet-pytorch MTCNN).

Fakes, applied per frame in the coordinates of the moving camera so they follow the face:

- ``Deepfakes``: the face is replaced by a donor face (another video's identity; a mirrored copy
  when both come from the same photo), colour-matched only partly, rendered at low resolution like
  an autoencoder output, pasted with a soft but visible elliptical blending boundary.
- ``Face2Face``: the mouth region is warped into a changing expression (mouth opening, smile
  widening, darker mouth interior) and the lower face slightly re-rendered (smoothed).
- ``FaceSwap``: the donor face's texture is pasted inside a hard-edged landmark-hull polygon with a
  deliberate colour mismatch.
- ``NeuralTextures``: the mouth region is re-synthesised (detail lost, a low-frequency texture
  added) with a strength and colour that flicker from frame to frame.

Layouts (DESIGN §4):

- DFDC: ``OUT/dfdc_train_part_{k}/{name}.mp4`` + ``metadata.json`` (``label`` REAL/FAKE,
  ``split``, ``original``); a fake always sits in the same part as its original. Plus
  ``OUT/test/*.mp4`` with ``labels.csv`` (``filename,label``; 1 = fake), like the public test set.
  Balanced by default (one fake per real), unlike real DFDC (~82 % fake).
- FF++: ``OUT/original_sequences/youtube/{comp}/videos/NNN.mp4``,
  ``OUT/manipulated_sequences/{method}/{comp}/videos/TTT_SSS.mp4`` and
  ``OUT/splits/{train,val,test}.json`` (lists of pairs [a, b]; pair [a, b] puts reals a, b and
  fakes a_b, b_a in that split). ``c23``/``c40`` set the H.264 CRF to 23/40, ``raw`` is lossless.

Both layouts also get ``OUT/sample_faces.json`` (not part of the official layouts): generator
settings, each video's label/method/original/donor, and the ground-truth face box and 5 landmarks
of every frame of every real video (a fake shares its original's geometry).

Deterministic: the same arguments and seed give the same frames (and, with the same PyAV/x264
build, the same bytes).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .video import video_codec, write_video

log = logging.getLogger(__name__)

__all__ = [
    "FFPP_METHODS",
    "LAYOUTS",
    "add_arguments",
    "run_from_args",
    "write_sample_dataset",
]

LAYOUTS = ("dfdc", "ffpp")
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
DEFAULT_VIDEOS = {"dfdc": 8, "ffpp": 12}
DEFAULT_FRAMES = 32
DEFAULT_SIZE = 256
DEFAULT_FPS = 25
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
INFO_FILE = "sample_faces.json"

# Face of skimage.data.astronaut() (512x512 RGB), measured with facenet-pytorch MTCNN
# (probability 0.99999): box (181.1, 62.2, 267.7, 172.1); landmarks in MTCNN order:
# left eye, right eye, nose, left mouth corner, right mouth corner (image x, y).
ASTRONAUT_LANDMARKS = np.array(
    [[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]], np.float32
)
# MTCNN-style box around the landmarks, in units of the eye-to-mouth distance d (calibrated on the
# astronaut box above): centre = eye centre + 0.38 d towards the mouth, width 2.28 d, height 2.89 d.
_BOX_CENTRE, _BOX_W, _BOX_H = 0.38, 2.28, 2.89

# Pixel sizes derived from the face are in units of d; the virtual camera keeps d at this fraction
# of the frame side (face box about 1/3 of the frame, like a portrait video).
_D_FRAC_RANGE = (0.12, 0.16)
# Source frames are pre-shrunk so that d is at most this many pixels (keeps warps cheap and avoids
# aliasing when the camera zooms out).
_MAX_SOURCE_D = 64.0


# ----------------------------------------------------------------------------- source footage


@dataclass
class _Source:
    """One source item: RGB uint8 frames (an image is one frame) and 5 landmarks per frame."""

    name: str
    frames: list[np.ndarray]
    landmarks: np.ndarray  # (T, 5, 2) float32, image coordinates

    def index(self, t: int) -> int:
        n = len(self.frames)
        if n == 1:
            return 0
        period = 2 * (n - 1)  # ping-pong through a short source video
        k = t % period
        return k if k < n else period - k

    @property
    def eye_mouth(self) -> float:
        return float(np.median([_face_axes(lm)[2] for lm in self.landmarks]))

    @property
    def face_centre(self) -> np.ndarray:
        return np.median([_box_centre(lm) for lm in self.landmarks], axis=0).astype(np.float32)


def _mirror(img: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip of an image and its landmarks (left/right points swapped)."""
    w = img.shape[1]
    out = lm.copy()
    out[:, 0] = w - 1 - out[:, 0]
    return np.ascontiguousarray(img[:, ::-1]), out[[1, 0, 2, 4, 3]]


def _default_source() -> _Source:
    try:
        from skimage import data
    except ImportError as exc:  # scikit-image is a dev extra
        raise ImportError(
            "the default sample source needs scikit-image (pip install scikit-image), "
            "or pass source=DIR with your own face images/videos"
        ) from exc
    img = np.ascontiguousarray(data.astronaut()[..., :3])
    return _Source("astronaut", [img], ASTRONAUT_LANDMARKS[None].copy())


def _read_video_frames(path: Path, limit: int) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= limit:
                break
    return frames


def _detect_landmarks(frames: list[np.ndarray], detector) -> np.ndarray | None:
    """Largest confident face per frame; frames without one take the nearest frame's landmarks."""
    h, w = frames[0].shape[:2]
    scale = min(1.0, 720.0 / max(h, w))
    small = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else f
             for f in frames]
    found: list[np.ndarray | None] = []
    for start in range(0, len(small), 8):
        boxes, probs, lms = detector.detect(small[start:start + 8], landmarks=True)
        for b, p, lm in zip(boxes, probs, lms, strict=True):
            if b is None:
                found.append(None)
                continue
            ok = [i for i in range(len(b)) if p[i] is not None and p[i] >= 0.9]
            if not ok:
                found.append(None)
                continue
            best = max(ok, key=lambda i: (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]))
            found.append(np.asarray(lm[best], np.float32) / scale)
    have = [i for i, x in enumerate(found) if x is not None]
    if not have:
        return None
    out = np.stack([found[min(have, key=lambda j: abs(j - i))] for i in range(len(found))])
    if len(out) >= 3:  # light temporal smoothing against detector jitter
        pad = np.concatenate([out[:1], out, out[-1:]])
        out = (pad[:-2] + pad[1:-1] + pad[2:]) / 3.0
    return out.astype(np.float32)


def _load_sources(source: Path, frames: int) -> list[_Source]:
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"sample source folder not found: {source}")
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS + VIDEO_EXTS)
    if not files:
        exts = " ".join(IMAGE_EXTS + VIDEO_EXTS)
        raise ValueError(f"sample source folder {source} contains no images or videos ({exts})")
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, device="cpu")
    sources = []
    for path in files:
        try:
            if path.suffix.lower() in IMAGE_EXTS:
                img = cv2.imread(str(path), cv2.IMREAD_COLOR)
                items = [] if img is None else [cv2.cvtColor(img, cv2.COLOR_BGR2RGB)]
            else:
                items = _read_video_frames(path, frames)
        except Exception as exc:  # any decode failure just skips the file
            log.warning("skipping unreadable source %s: %s", path, exc)
            continue
        if not items:
            log.warning("skipping unreadable source %s", path)
            continue
        h, w = items[0].shape[:2]
        if max(h, w) > 1280:
            f = 1280.0 / max(h, w)
            items = [cv2.resize(x, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) for x in items]
        lms = _detect_landmarks(items, detector)
        if lms is None:
            log.warning("skipping source %s: no face found", path)
            continue
        src = _Source(str(path.relative_to(source)), items, lms)
        shrink = min(1.0, _MAX_SOURCE_D / max(src.eye_mouth, 1e-3))
        if shrink < 1.0:
            src.frames = [cv2.resize(x, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
                          for x in src.frames]
            src.landmarks = src.landmarks * shrink
        sources.append(src)
    if not sources:
        raise ValueError(f"no face found in any image or video of sample source folder {source}")
    log.info("sample source: %d of %d files in %s have a face", len(sources), len(files), source)
    return sources


# ----------------------------------------------------------------------------- geometry helpers


def _face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """Eye centre, mouth centre, eye-to-mouth distance d, unit vectors across (u) and down (v)."""
    eyes = (lm[0] + lm[1]) / 2.0
    mouth = (lm[3] + lm[4]) / 2.0
    down = mouth - eyes
    d = float(np.hypot(*down))
    v = down / max(d, 1e-6)
    u = np.array([v[1], -v[0]], np.float32)  # across the face, left to right (eye to eye)
    return eyes, mouth, d, u.astype(np.float32), v.astype(np.float32)


def _box_centre(lm: np.ndarray) -> np.ndarray:
    eyes, mouth, _, _, _ = _face_axes(lm)
    return eyes + _BOX_CENTRE * (mouth - eyes)


def _face_box(lm: np.ndarray) -> list[float]:
    """Axis-aligned MTCNN-style box (x1, y1, x2, y2) around the (possibly rotated) face."""
    _, _, d, u, v = _face_axes(lm)
    c = _box_centre(lm)
    hw, hh = _BOX_W * d / 2, _BOX_H * d / 2
    corners = np.array([c + su * hw * u + sv * hh * v for su in (-1, 1) for sv in (-1, 1)])
    return [*corners.min(0).tolist(), *corners.max(0).tolist()]


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping src points to dst points, 2x3."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    uu, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(uu @ vt)) or 1.0])
    rot = uu @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / max(s.var(0).sum(), 1e-9)
    m = np.zeros((2, 3), np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def _ellipse_mask(shape: tuple[int, int], centre, axes, angle_deg: float, feather: float) -> np.ndarray:
    """Float mask in [0, 1] of a filled rotated ellipse, edge blurred with sigma ``feather``."""
    mask = np.zeros(shape, np.uint8)
    sh = 4  # sub-pixel precision for cv2 drawing
    c = (int(round(centre[0] * 2**sh)), int(round(centre[1] * 2**sh)))
    a = (max(1, int(round(axes[0] * 2**sh))), max(1, int(round(axes[1] * 2**sh))))
    cv2.ellipse(mask, c, a, angle_deg, 0, 360, 255, -1, cv2.LINE_AA, sh)
    out = mask.astype(np.float32) / 255.0
    if feather > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), feather)
    return out[..., None]


def _polygon_mask(shape: tuple[int, int], pts: np.ndarray, feather: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    sh = 4
    cv2.fillPoly(mask, [np.round(pts * 2**sh).astype(np.int32)], 255, cv2.LINE_AA, sh)
    out = mask.astype(np.float32) / 255.0
    if feather > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), feather)
    return out[..., None]


def _eye_angle(u: np.ndarray) -> float:
    return math.degrees(math.atan2(float(u[1]), float(u[0])))


def _ease(t: int, n: int) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t / max(n - 1, 1))


# ----------------------------------------------------------------------------- real clips


@dataclass
class _RealSpec:
    """Everything random about one real video, drawn once from its own seed."""

    source: _Source
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
    def draw(cls, source: _Source, seed: tuple[int, ...]) -> _RealSpec:
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
        e = _ease(t, n)
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
            self._graded[key] = _mirror(img, lm) if mirror else (img, lm)
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
            e = _ease(t, n)
            bright = (1 - e) * self.bright[0] + e * self.bright[1]
            g = gamp * math.sin(2 * math.pi * gcyc * t / max(n, 1) + gdir)
            gain = (bright * 255.0) * (1 + g * ramp)  # (size, size, 1), in 0..255 units
            rng = np.random.default_rng((*self.seed, t))
            noise = rng.standard_normal(warped.shape, dtype=np.float32) * (self.noise * 255.0)
            x = warped.astype(np.float32) * (gain / 255.0) + noise
            u8 = np.clip(x + 0.5, 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            frames.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else u8)
            lms.append(_apply(m, lm))
        return frames, lms


# ----------------------------------------------------------------------------- manipulations


@dataclass
class _FakeCtx:
    """Per-fake-video state handed to a manipulation: target, donor, and its own random stream."""

    target: _RealSpec
    donor: _RealSpec
    donor_mirror: bool
    n: int
    seed: tuple[int, ...]

    def rng(self, *extra: int) -> np.random.Generator:
        return np.random.default_rng((*self.seed, *extra))

    def donor_on(self, t: int, lm: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Donor face at frame t (its own grading), aligned onto target landmarks ``lm``; float RGB."""
        img, dlm = self.donor.graded_frame(t, self.donor_mirror)
        m = _similarity(dlm.astype(np.float64), lm.astype(np.float64))
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


def _deepfakes(x: np.ndarray, lm: np.ndarray, t: int, ctx: _FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    eyes, mouth, d, u, v = _face_axes(lm)
    centre = eyes + 0.3 * (mouth - eyes)
    face = ctx.donor_on(t, lm, x.shape)
    mask = _ellipse_mask(x.shape[:2], centre, (1.0 * d, 1.38 * d), _eye_angle(u), feather=0.07 * d)
    face = _match_colour(face, x, mask, strength=float(p.uniform(0.4, 0.7)))
    # autoencoder look: the swapped face is synthesised at ~64 px across and upscaled
    res = float(p.uniform(52, 72))
    f = min(1.0, res / (2.4 * d))
    if f < 1.0:
        small = cv2.resize(face, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        face = cv2.resize(small, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_CUBIC)
    face = cv2.GaussianBlur(face, (0, 0), 0.03 * d)
    return x * (1 - mask) + face * mask


def _face2face(x: np.ndarray, lm: np.ndarray, t: int, ctx: _FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    open_max, widen, cycles, phase = p.uniform(0.35, 0.55), p.uniform(0.1, 0.25), p.uniform(1, 2), p.uniform(0, 6.3)
    a = open_max * (0.5 - 0.5 * math.cos(2 * math.pi * cycles * t / max(ctx.n, 1) + phase))
    eyes, mouth, d, u, v = _face_axes(lm)
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
    inner = _ellipse_mask(x.shape[:2], centre, (0.3 * d, max(0.5, 0.14 * d * a / open_max)), _eye_angle(u),
                          feather=0.06 * d)
    warped = warped * (1 - inner * np.array([0.3, 0.45, 0.45], np.float32))  # dark, reddish
    # the face is re-rendered from a fitted model: smoother, flatter in tone, slightly brighter
    face = _ellipse_mask(x.shape[:2], eyes + 0.3 * (mouth - eyes), (0.95 * d, 1.3 * d), _eye_angle(u),
                         feather=0.12 * d)
    rerender = cv2.GaussianBlur(warped, (0, 0), 0.025 * d)
    mean = rerender.mean((0, 1))
    rerender = ((rerender - mean) * float(p.uniform(0.78, 0.88)) + mean) * float(p.uniform(1.05, 1.1))
    return warped * (1 - face) + rerender * face


def _faceswap(x: np.ndarray, lm: np.ndarray, t: int, ctx: _FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    eyes, mouth, d, u, v = _face_axes(lm)
    centre = eyes + 0.32 * (mouth - eyes)
    face = ctx.donor_on(t, lm, x.shape)
    # colour mismatch: donor texture with a tint and contrast of its own
    warm, a = float(p.choice([-1, 1])), float(p.uniform(0.04, 0.08))  # warmer or cooler than the target
    tint = np.array([1 + warm * a, 1 + warm * a / 3, 1 - warm * a]) * p.uniform(0.92, 1.08)
    region = _ellipse_mask(x.shape[:2], centre, (0.9 * d, 1.2 * d), _eye_angle(u), feather=0)
    face = _match_colour(face, x, region, strength=0.6)  # a crude colour correction, then off again
    face = (face - face.mean((0, 1))) * float(p.uniform(1.05, 1.2)) + face.mean((0, 1))
    face = face * tint.astype(np.float32)
    # hull of a landmark fit: a jittered polygon (fixed per video), hard edge
    k = 14
    ang = np.linspace(0, 2 * math.pi, k, endpoint=False)
    jitter = 1 + p.uniform(-0.06, 0.06, k)
    pts = np.array([centre + jitter[i] * (0.95 * d * math.cos(a) * u + 1.3 * d * math.sin(a) * v)
                    for i, a in enumerate(ang)], np.float32)
    mask = _polygon_mask(x.shape[:2], pts, feather=0.6)
    return x * (1 - mask) + face * mask


def _neuraltextures(x: np.ndarray, lm: np.ndarray, t: int, ctx: _FakeCtx) -> np.ndarray:
    p = ctx.rng(0)
    amp = float(p.uniform(0.06, 0.09))
    q = ctx.rng(1, t)  # per-frame stream: the flicker
    eyes, mouth, d, u, v = _face_axes(lm)
    centre = mouth + 0.12 * d * v
    mask = _ellipse_mask(x.shape[:2], centre, (0.95 * d, 0.62 * d), _eye_angle(u), feather=0.12 * d)
    tex = cv2.GaussianBlur(x, (0, 0), 0.03 * d)  # fine detail (teeth, lip lines) lost
    field = q.normal(0, 1, (5, 5, 1)).astype(np.float32)  # low-frequency texture, new every frame
    field = cv2.resize(field, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_CUBIC)[..., None]
    tex = tex * (1 + q.uniform(-0.05, 0.05)) + amp * q.uniform(0.5, 1.5) * field + q.normal(0, 0.025, 3)
    # synthesised lips drift towards a flatter colour
    mean = tex[mask[..., 0] > 0.5].mean(0) if (mask > 0.5).any() else tex.mean((0, 1))
    tex = (0.8 * tex + 0.2 * mean).astype(np.float32)
    return x * (1 - mask) + tex * mask


_MANIPULATIONS: dict[str, Callable[[np.ndarray, np.ndarray, int, _FakeCtx], np.ndarray]] = {
    "Deepfakes": _deepfakes,
    "Face2Face": _face2face,
    "FaceSwap": _faceswap,
    "NeuralTextures": _neuraltextures,
}


def _render_fake(method: str, real: list[np.ndarray], lms: list[np.ndarray], ctx: _FakeCtx) -> list[np.ndarray]:
    fn = _MANIPULATIONS[method]
    out = []
    for t, (frame, lm) in enumerate(zip(real, lms, strict=True)):
        # work on a window around the face only (every mask lies well inside it)
        x1, y1, x2, y2 = _face_box(lm)
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


# ----------------------------------------------------------------------------- encoding


def _crf(compression: str) -> int:
    if compression == "raw":
        return 0
    m = re.fullmatch(r"c(\d{1,2})", compression)
    if not m or int(m.group(1)) > 51:
        raise ValueError(f"compression must be 'raw' or 'c<CRF 0-51>' like c23/c40, got {compression!r}")
    return int(m.group(1))


# ----------------------------------------------------------------------------- layouts


@dataclass
class _Job:
    """One video to write: a real (method None) or a fake of ``target`` with ``donor``'s face."""

    path: str  # relative to the output root
    target: int
    method: str | None = None
    donor: int | None = None


_LAYOUT_PARTS = {
    "dfdc": ("dfdc_train_part_*", "test"),
    "ffpp": ("original_sequences", "manipulated_sequences", "splits"),
}


def _prepare_out(out: Path, layout: str, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"sample output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"sample output folder {out} is not empty (pass overwrite=True / --overwrite)")
        # remove only what this generator writes, never the user's other files
        for pattern in (*_LAYOUT_PARTS[layout], INFO_FILE):
            for p in out.glob(pattern):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _dfdc_names(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list(string.ascii_lowercase))
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(letters, 10)) + ".mp4"
        if name not in names:
            names.append(name)
    return names


def _plan_dfdc(videos: int, seed: int) -> tuple[list[_Job], int, dict]:
    """Jobs for DFDC; the number of real specs needed; the files' metadata."""
    if videos < 2:
        raise ValueError(f"the DFDC sample needs videos >= 2 (a fake needs a donor), got {videos}")
    n_test = max(2, videos // 4)
    n_real = videos + n_test
    n_parts = min(videos, max(2, math.ceil(videos / 10)))
    names = _dfdc_names(np.random.default_rng((seed, 7)), 2 * n_real)
    jobs: list[_Job] = []
    meta: dict[str, dict[str, dict]] = {}
    labels: list[tuple[str, int]] = []
    for i in range(n_real):
        method = FFPP_METHODS[i % len(FFPP_METHODS)]
        real_name, fake_name = names[2 * i], names[2 * i + 1]
        if i < videos:  # train parts: a fake lives in its original's part
            folder = f"dfdc_train_part_{i % n_parts}"
            donor = (i + 1) % videos
            part = meta.setdefault(folder, {})
            part[real_name] = {"label": "REAL", "split": "train", "original": None}
            part[fake_name] = {"label": "FAKE", "split": "train", "original": real_name}
        else:  # public-test-like folder, its own identities/animations
            folder = "test"
            donor = videos + (i - videos + 1) % n_test
            labels += [(real_name, 0), (fake_name, 1)]
        jobs.append(_Job(f"{folder}/{real_name}", i))
        jobs.append(_Job(f"{folder}/{fake_name}", i, method, donor))
    return jobs, n_real, {"metadata": meta, "labels": labels}


def _plan_ffpp(videos: int, seed: int, compression: str) -> tuple[list[_Job], int, dict]:
    if videos < 6 or videos % 2:
        raise ValueError(f"the FF++ sample needs an even number of videos >= 6 (pairs for 3 splits), got {videos}")
    if videos > 1000:
        raise ValueError(f"FF++ ids have 3 digits: videos must be <= 1000, got {videos}")
    ids = [f"{i:03d}" for i in range(videos)]
    order = np.random.default_rng((seed, 8)).permutation(videos)
    pairs = [sorted([ids[order[2 * k]], ids[order[2 * k + 1]]]) for k in range(videos // 2)]
    n_eval = max(1, round(len(pairs) * 0.14))  # official 720/140/140
    splits = {"test": pairs[:n_eval], "val": pairs[n_eval:2 * n_eval], "train": pairs[2 * n_eval:]}
    jobs = [_Job(f"original_sequences/youtube/{compression}/videos/{i}.mp4", int(i)) for i in ids]
    for method in FFPP_METHODS:
        for a, b in pairs:
            for tgt, src in ((a, b), (b, a)):
                jobs.append(_Job(f"manipulated_sequences/{method}/{compression}/videos/{tgt}_{src}.mp4",
                                 int(tgt), method, int(src)))
    return jobs, videos, {"splits": {k: sorted(v) for k, v in splits.items()}}


def write_sample_dataset(
    layout: str,
    out: Path,
    videos: int | None = None,
    source: Path | None = None,
    seed: int = 0,
    frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_SIZE,
    compression: str = "c23",
    *,
    fps: int = DEFAULT_FPS,
    overwrite: bool = False,
) -> Path:
    """Write a tiny dataset in the official ``layout`` ("dfdc" or "ffpp") under ``out``; return ``out``.

    ``videos``: real source videos (DFDC train; default 8, plus ``max(2, videos // 4)`` for ``test/``,
    and one fake per real) or FF++ ids (default 12 → 6 pairs split 4/1/1, 12 reals + 48 fakes).
    ``source``: a folder of face images/videos to use instead of the scikit-image portrait.
    ``frames``/``size``/``fps``: clip length, square frame side (even), frame rate.
    ``compression``: FF++ folder name and H.264 CRF (``c23``, ``c40``, ``raw`` = lossless); DFDC uses
    it for the CRF only. A non-empty ``out`` is refused unless ``overwrite`` (which removes only
    what this generator writes).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown sample layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    videos = DEFAULT_VIDEOS[layout] if videos is None else int(videos)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if size < 32 or size % 2:
        raise ValueError(f"size must be an even number >= 32, got {size}")
    crf = _crf(compression)
    if layout == "dfdc":
        jobs, n_real, extra = _plan_dfdc(videos, seed)
    else:
        jobs, n_real, extra = _plan_ffpp(videos, seed, compression)
    out = Path(out)
    sources = _load_sources(source, frames) if source is not None else [_default_source()]
    _prepare_out(out, layout, overwrite)

    codec = video_codec(size, size)
    specs = [_RealSpec.draw(sources[i % len(sources)], (seed, 1, i)) for i in range(n_real)]
    if codec != "h264":
        log.warning("writing MPEG-4 Part 2 (mp4v) with OpenCV: PyAV has no libx264 here or the size is odd")
    log.info("writing %d sample videos (%s layout, %d frames of %dx%d) to %s", len(jobs), layout, frames,
             size, size, out)

    from tqdm.auto import tqdm

    info_videos: dict[str, dict] = {}
    faces: dict[str, dict] = {}
    real_path = {j.target: j.path for j in jobs if j.method is None}
    cache: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    # jobs are grouped by target so each real clip is rendered once and then dropped
    by_target = sorted(range(len(jobs)), key=lambda k: (jobs[k].target, jobs[k].method is not None, k))
    for k in tqdm(by_target, desc=f"sample {layout}", unit="video", disable=len(jobs) <= 4):
        job = jobs[k]
        if job.target not in cache:
            cache.clear()
            cache[job.target] = specs[job.target].render(frames, size)
        real, lms = cache[job.target]
        if job.method is None:
            clip = real
            faces[job.path] = {
                "boxes": [[round(c, 1) for c in _face_box(lm)] for lm in lms],
                "landmarks": [np.round(lm, 1).tolist() for lm in lms],
            }
        else:
            tgt, dnr = specs[job.target], specs[job.donor]
            same = dnr.source is tgt.source
            ctx = _FakeCtx(tgt, dnr, dnr.mirror ^ (same and dnr.mirror == tgt.mirror), frames,
                           (seed, 2, FFPP_METHODS.index(job.method), job.target, job.donor))
            clip = _render_fake(job.method, real, lms, ctx)
        write_video(out / job.path, clip, fps, crf)
        info_videos[job.path] = {
            "label": 0 if job.method is None else 1,
            "method": job.method or "real",
            "original": None if job.method is None else real_path[job.target],
            "donor": None if job.donor is None else real_path[job.donor],
            "source": specs[job.target].source.name,
        }

    if layout == "dfdc":
        for folder, meta in extra["metadata"].items():
            (out / folder / "metadata.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        with open(out / "test" / "labels.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["filename", "label"])
            writer.writerows(sorted(extra["labels"]))
    else:
        (out / "splits").mkdir(exist_ok=True)
        for name, pairs in extra["splits"].items():
            (out / "splits" / f"{name}.json").write_text(json.dumps(pairs) + "\n")

    info = {
        "generator": "preprocessing.sample",
        "note": "synthetic pipeline check, not a benchmark of real-world accuracy",
        "layout": layout,
        "seed": seed,
        "frames": frames,
        "size": size,
        "fps": fps,
        "compression": compression,
        "codec": codec,
        "videos": info_videos,
        "faces": faces,
    }
    (out / INFO_FILE).write_text(json.dumps(info, sort_keys=True) + "\n")
    log.info("sample %s dataset written: %s (%d videos)", layout, out, len(jobs))
    return out


# ----------------------------------------------------------------------------- CLI hooks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepfake-ssat sample``."""
    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="official layout to write")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; must be empty)")
    parser.add_argument("--videos", type=int, default=None,
                        help="real videos (dfdc, default 8) or FF++ ids (ffpp, even, default 12)")
    parser.add_argument("--source", type=Path, default=None,
                        help="folder of your own face images/videos (default: the scikit-image portrait)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per video")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="frame side in pixels (even)")
    parser.add_argument("--fps", type=int, default=DEFAULT_FPS)
    parser.add_argument("--compression", default="c23", help="c23 / c40 (H.264 CRF) or raw (lossless)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous sample in --out (removes only the sample's own files)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``deepfake-ssat sample``; 0 on success, 2 on a usage error (logged in one line)."""
    try:
        root = write_sample_dataset(
            args.layout, args.out, videos=args.videos, source=args.source, seed=args.seed,
            frames=args.frames, size=args.size, compression=args.compression, fps=args.fps,
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError) as exc:
        log.error("sample: %s", exc)
        return 2
    log.info("sample dataset ready at %s", root)
    return 0
