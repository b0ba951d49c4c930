"""Square face crops with a margin, resized to a fixed side; parts outside the frame are black."""

from __future__ import annotations

import cv2
import numpy as np


def square_box(box: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square centred on ``box`` with side = longer box side x margin."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * margin
    side = max(int(round(side)), 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def crop_face(frame: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """Cut the square around ``box`` out of ``frame`` (H, W, 3) and resize it to (size, size, 3)."""
    x0, y0, side = square_box(box, margin)
    h, w = frame.shape[:2]
    # Copy the part inside the frame into a black canvas so faces at the border keep their position.
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + side, w), min(y0 + side, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return np.zeros((size, size, 3), np.uint8)
    if (fx0, fy0, fx1, fy1) == (x0, y0, x0 + side, y0 + side):
        region = frame[y0 : y0 + side, x0 : x0 + side]
    else:
        region = np.zeros((side, side, 3), np.uint8)
        region[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = frame[fy0:fy1, fx0:fx1]
    # INTER_AREA when shrinking avoids aliasing; cubic when enlarging keeps edges sharper than linear.
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(region, (size, size), interpolation=interp)


def landmarks_in_crop(boxes: np.ndarray, landmarks: np.ndarray, margin: float, size: int) -> np.ndarray:
    """Source-pixel landmarks (T, K, 2) of a track → the same points in its crops' pixels (T, K, 2)."""
    out = np.empty_like(landmarks, dtype=np.float32)
    for t, (box, lm) in enumerate(zip(boxes, landmarks, strict=True)):
        x0, y0, side = square_box(box, margin)
        out[t] = (lm - np.array([x0, y0], np.float32)) * (size / side)
    return out
