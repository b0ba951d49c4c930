"""Face geometry of the sample generator: axes and boxes from 5 landmarks, similarity transforms,
soft masks. Landmarks are MTCNN's five points: left eye, right eye, nose, left and right mouth corner."""

from __future__ import annotations

import math

import cv2
import numpy as np

# MTCNN-style box around the landmarks, in units of the eye-to-mouth distance d (calibrated on the
# astronaut box above): centre = eye centre + 0.38 d towards the mouth, width 2.28 d, height 2.89 d.
_BOX_CENTRE, _BOX_W, _BOX_H = 0.38, 2.28, 2.89


def face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """Eye centre, mouth centre, eye-to-mouth distance d, unit vectors across (u) and down (v)."""
    eyes = (lm[0] + lm[1]) / 2.0
    mouth = (lm[3] + lm[4]) / 2.0
    down = mouth - eyes
    d = float(np.hypot(*down))
    v = down / max(d, 1e-6)
    u = np.array([v[1], -v[0]], np.float32)  # across the face, left to right (eye to eye)
    return eyes, mouth, d, u.astype(np.float32), v.astype(np.float32)


def box_centre(lm: np.ndarray) -> np.ndarray:
    eyes, mouth, _, _, _ = face_axes(lm)
    return eyes + _BOX_CENTRE * (mouth - eyes)


def face_box(lm: np.ndarray) -> list[float]:
    """Axis-aligned MTCNN-style box (x1, y1, x2, y2) around the (possibly rotated) face."""
    _, _, d, u, v = face_axes(lm)
    c = box_centre(lm)
    hw, hh = _BOX_W * d / 2, _BOX_H * d / 2
    corners = np.array([c + su * hw * u + sv * hh * v for su in (-1, 1) for sv in (-1, 1)])
    return [*corners.min(0).tolist(), *corners.max(0).tolist()]


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
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


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def face_outline(centre: np.ndarray, d: float, u: np.ndarray, v: np.ndarray, across: float, down: float,
                 radii: np.ndarray) -> np.ndarray:
    """A closed outline around a face: ``len(radii)`` points on the ellipse of half-axes ``across`` · d (along
    ``u``) and ``down`` · d (along ``v``) about ``centre``, each pushed out or in by its radius factor (1 =
    on the ellipse). Fixed factors per video make a jittered hull that follows the face frame by frame."""
    ang = np.linspace(0, 2 * math.pi, len(radii), endpoint=False)
    return np.array([centre + r * (across * d * math.cos(a) * u + down * d * math.sin(a) * v)
                     for r, a in zip(radii, ang, strict=True)], np.float32)


def ellipse_mask(shape: tuple[int, int], centre, axes, angle_deg: float, feather: float) -> np.ndarray:
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


def polygon_mask(shape: tuple[int, int], pts: np.ndarray, feather: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    sh = 4
    cv2.fillPoly(mask, [np.round(pts * 2**sh).astype(np.int32)], 255, cv2.LINE_AA, sh)
    out = mask.astype(np.float32) / 255.0
    if feather > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), feather)
    return out[..., None]


def eye_angle(u: np.ndarray) -> float:
    return math.degrees(math.atan2(float(u[1]), float(u[0])))


def ease(t: int, n: int) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t / max(n - 1, 1))
