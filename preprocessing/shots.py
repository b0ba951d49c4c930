"""Shot cuts: where one camera shot ends and the next begins, so that a face track never runs across a
cut onto another person.

A frame's signature is its colour histogram (HSV: 16 hue, 8 saturation, 8 value bins, each normalised,
from a subsampled frame); a cut lies between two consecutive clip frames whose signatures' total
variation distance exceeds ``TrackerConfig.cut_threshold``. Measured on the 37 real videos of
``../shared/data`` (no cuts in them): consecutive frames differ by at most 0.056; the first frames of
two different videos by 0.187 and more (median 0.43), except clips cut from one source. The default,
0.12, sits between the two.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import cv2
import numpy as np

_BINS = ((0, 16, 180), (1, 8, 256), (2, 8, 256))  # (HSV channel, bins, range)


def frame_signature(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → a 32-value colour histogram summing to 1 (every third pixel row and column
    of a ≤128-px view: the distance only needs the colour mix, and full frames cost 1080p decodes' worth)."""
    h, w = frame.shape[:2]
    k = max(1, round(max(h, w) / 128))
    hsv = cv2.cvtColor(np.ascontiguousarray(frame[::k, ::k]), cv2.COLOR_RGB2HSV)
    parts = [cv2.calcHist([hsv], [c], None, [bins], [0, top]).ravel() for c, bins, top in _BINS]
    return np.concatenate([p / max(float(p.sum()), 1.0) for p in parts]).astype(np.float32) / len(parts)


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance of two signatures, in [0, 1]."""
    return 0.5 * float(np.abs(a - b).sum())


class Shots:
    """Clip-frame positions where a new shot starts; which shot a position belongs to."""

    def __init__(self, cuts: Sequence[int] = ()):
        self.cuts = sorted(int(c) for c in cuts)

    def add(self, cut: int) -> None:
        """A cut found by a stream, after every cut it found before."""
        if self.cuts and cut <= self.cuts[-1]:
            raise ValueError(f"cut {cut} is not after the last one ({self.cuts[-1]})")
        self.cuts.append(int(cut))

    def shot_of(self, pos: int) -> int:
        return bisect.bisect_right(self.cuts, int(pos))

    def same_shot(self, a: int, b: int) -> bool:
        return self.shot_of(a) == self.shot_of(b)
