"""IoU tracking of sparse per-frame detections into dense, smoothed face tracks (pure numpy).

Positions are clip-frame positions (0..N-1), not source frame indices: detections come every
``every`` positions, the tracker links them, fills the frames between by linear interpolation,
smooths the boxes and drops tracks that are short, tiny or low-scoring.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import TrackerConfig
from .shots import Shots


@dataclass
class Track:
    """One person's face over consecutive clip positions."""

    positions: np.ndarray  # (T,) int, consecutive clip-frame positions
    boxes: np.ndarray  # (T, 4) float32 x1, y1, x2, y2 in source pixels
    scores: np.ndarray  # (T,) float32 detection score (interpolated between detections)
    detected: np.ndarray  # (T,) bool, True where the detector actually ran and found this face
    landmarks: np.ndarray | None = None  # (T, 5, 2) float32, source pixels, interpolated and smoothed

    @property
    def det_score(self) -> float:
        return float(self.scores[self.detected].mean()) if self.detected.any() else 0.0

    @property
    def face_size(self) -> float:
        """Median of the longer box side, source pixels."""
        return float(np.median(np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])))


@dataclass
class _Open:
    positions: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    landmarks: list[np.ndarray | None] = field(default_factory=list)

    def since(self, pos: int) -> _Open:
        """The track from its last detection at or before ``pos`` on (all of it when none is). ``densify`` of
        it gives the whole track's boxes at positions from ``pos + smoothing // 2`` on: interpolation looks only
        at the two detections around a position, and the moving average's float64 sums agree to far below
        float32 (tests and a 600-case random comparison with the whole-track path found them bit-equal)."""
        k = max(0, bisect.bisect_right(self.positions, pos) - 1)
        return _Open(self.positions[k:], self.boxes[k:], self.scores[k:], self.landmarks[k:])

    def predict(self, pos: int) -> np.ndarray:
        """Constant-velocity guess of the box at ``pos`` (faces move between sparse detections)."""
        last = self.boxes[-1]
        if len(self.boxes) < 2:
            return last
        dt = self.positions[-1] - self.positions[-2]
        velocity = (last - self.boxes[-2]) / max(dt, 1)
        return last + velocity * (pos - self.positions[-1])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _affinity(
    last: np.ndarray, pred: np.ndarray, boxes: np.ndarray, iou_threshold: float, max_shift: float
) -> np.ndarray:
    """Match priority of each (track, detection) pair: > 1 for an IoU match, in (0, 1] for a
    centre-distance match (a small fast face whose boxes k frames apart hardly overlap), 0 for none."""
    overlap = np.maximum(iou(last, boxes), iou(pred, boxes))
    side = np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1])[:, None]
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[None, :]
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    dist = np.linalg.norm(centre(pred)[:, None] - centre(boxes)[None, :], axis=2) / np.maximum(side, 1e-6)
    similar_size = (size / np.maximum(side, 1e-6) > 2 / 3) & (size / np.maximum(side, 1e-6) < 3 / 2)
    near = np.where(similar_size & (dist <= max_shift), 1.0 - dist / (max_shift + 1e-6), 0.0)
    return np.where(overlap >= iou_threshold, 1.0 + overlap, near)


class Linker:
    """Greedy association of detections, one detector run at a time, in position order.

    A track takes the detection overlapping its last or motion-predicted box by at least
    ``iou_threshold``; failing that, one of similar size whose centre is within ``max_shift`` box
    sides of the prediction. Tracks whose last detection is more than ``max_gap`` positions back, or in
    an earlier shot (``shots``, which may still grow as a stream finds its cuts), are closed. Fed run by
    run it links exactly as over the whole video at once (``link_detections``), so a stream can crop
    the frames that no later detection can change (``settled``) and let them go.
    """

    def __init__(self, iou_threshold: float, max_gap: int, max_shift: float = 1.0, shots: Shots | None = None):
        self.iou_threshold, self.max_gap, self.max_shift = iou_threshold, max_gap, max_shift
        self.shots = shots if shots is not None else Shots()
        self.tracks: list[_Open] = []

    def is_open(self, track: _Open, pos: int) -> bool:
        """Whether a detection at ``pos`` could still join ``track``."""
        return 0 < pos - track.positions[-1] <= self.max_gap and self.shots.same_shot(track.positions[-1], pos)

    def add(self, pos: int, boxes: np.ndarray, scores: np.ndarray, points: np.ndarray | None = None) -> None:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        points = np.asarray(points, np.float32).reshape(-1, 5, 2) if points is not None else None
        active = [t for t in self.tracks if self.is_open(t, pos)]
        taken_t: set[int] = set()
        taken_d: set[int] = set()
        if active and len(boxes):
            last = np.stack([t.boxes[-1] for t in active])
            pred = np.stack([t.predict(pos) for t in active])
            affinity = _affinity(last, pred, boxes, self.iou_threshold, self.max_shift)
            for flat in np.argsort(-affinity, axis=None, kind="stable"):
                ti, di = np.unravel_index(flat, affinity.shape)
                if affinity[ti, di] <= 0:
                    break
                if ti in taken_t or di in taken_d:
                    continue
                taken_t.add(ti)
                taken_d.add(di)
                active[ti].positions.append(pos)
                active[ti].boxes.append(boxes[di])
                active[ti].scores.append(float(scores[di]))
                active[ti].landmarks.append(points[di] if points is not None else None)
        for di in range(len(boxes)):
            if di not in taken_d:
                self.tracks.append(_Open([pos], [boxes[di]], [float(scores[di])],
                                         [points[di] if points is not None else None]))

    def settled(self, next_detection: int, smoothing: int) -> int:
        """The first position whose smoothed box could still change, given that every detector run before
        ``next_detection`` has been added and none after it: a new track starts at a later run, and an open
        track's box moves only within half a smoothing window of its last detection."""
        bound = next_detection
        for t in self.tracks:
            if self.is_open(t, next_detection):  # the box at p averages positions p ± smoothing // 2
                bound = min(bound, t.positions[-1] - smoothing // 2 + 1)
        return bound


def link_detections(
    detections: Sequence[tuple[int, np.ndarray, np.ndarray]], iou_threshold: float, max_gap: int,
    max_shift: float = 1.0, shots: Shots | None = None,
) -> list[_Open]:
    """``Linker`` over every detection ``(position, boxes (M, 4), scores (M,)[, landmarks (M, 5, 2)])``."""
    linker = Linker(iou_threshold, max_gap, max_shift, shots)
    for pos, boxes, scores, *rest in sorted(detections, key=lambda d: d[0]):
        linker.add(pos, boxes, scores, rest[0] if rest else None)
    return linker.tracks


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average over time (window shrinks at the ends, so no padding artefacts)."""
    if window <= 1 or len(boxes) < 2:
        return boxes.astype(np.float32)
    half = window // 2
    csum = np.concatenate([np.zeros((1, boxes.shape[1])), np.cumsum(boxes, axis=0, dtype=np.float64)])
    idx = np.arange(len(boxes))
    lo = np.clip(idx - half, 0, len(boxes))
    hi = np.clip(idx + half + 1, 0, len(boxes))
    return ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)


def _interp(dense: np.ndarray, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(N, C) values at sparse ``pos`` → (len(dense), C), linear in between."""
    return np.stack([np.interp(dense, pos, values[:, c]) for c in range(values.shape[1])], axis=1)


def densify(raw: _Open, smoothing: int) -> Track:
    """Interpolate a sparse track to every position between its first and last detection, then smooth
    (boxes and, when the detector gave them, the five landmarks alike)."""
    pos = np.asarray(raw.positions)
    dense = np.arange(pos[0], pos[-1] + 1)
    boxes = _interp(dense, pos, np.asarray(raw.boxes, np.float32))
    scores = np.interp(dense, pos, np.asarray(raw.scores)).astype(np.float32)
    detected = np.isin(dense, pos)
    landmarks = None
    if raw.landmarks and all(lm is not None for lm in raw.landmarks):
        flat = _interp(dense, pos, np.asarray(raw.landmarks, np.float32).reshape(len(pos), 10))
        landmarks = smooth_boxes(flat, smoothing).reshape(-1, 5, 2)
    return Track(dense, smooth_boxes(boxes, smoothing), scores, detected, landmarks)


def effective_gap(cfg: TrackerConfig, detect_every: int) -> int:
    """A track must at least survive the regular interval between two detector runs."""
    return max(cfg.max_gap, detect_every)


def keeps(track: Track, cfg: TrackerConfig) -> bool:
    """Long, large and confident enough to be a face track."""
    return (len(track.positions) >= cfg.min_frames and track.face_size >= cfg.min_face_size
            and track.det_score >= cfg.min_score)


def keep_tracks(raw: Sequence[_Open], cfg: TrackerConfig) -> list[tuple[int, Track]]:
    """(index in ``raw``, dense track) of the linked tracks that are long, large and confident enough,
    ordered by start then by face size."""
    kept = [(i, t) for i, t in ((i, densify(r, cfg.smoothing)) for i, r in enumerate(raw)) if keeps(t, cfg)]
    kept.sort(key=lambda it: (int(it[1].positions[0]), -it[1].face_size))
    return kept


def build_tracks(
    detections: Sequence[tuple[int, np.ndarray, np.ndarray]], cfg: TrackerConfig, detect_every: int = 1,
    shots: Shots | None = None,
) -> list[Track]:
    """Detections on sparse positions -> kept dense tracks, ordered by start then by face size; no track
    crosses a cut of ``shots``."""
    raw = link_detections(detections, cfg.iou_threshold, effective_gap(cfg, detect_every), cfg.max_shift, shots)
    return [t for _, t in keep_tracks(raw, cfg)]
