"""One video -> face tracks with crops, in memory. The dataset runner and inference both call this.

Stages: decode the clip frames, detect faces on every k-th of them (downscaled), link detections
into tracks (interpolated, smoothed, filtered), cut the crops from the full-resolution frames.
Frames are kept in memory for the crop stage when they fit ``frame_cache_mb``; otherwise the
video is decoded a second time, so memory stays bounded on long 1080p+ videos.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import FaceCropConfig
from .cropping import crop_face, landmarks_in_crop
from .detection import FaceDetector
from .shots import Shots, frame_signature, signature_distance
from .tracking import build_tracks
from .video import VideoDecodeError, VideoReader

# progress(fraction in [0, 1], description) -- the call signature of gradio.Progress and easy to adapt.
Progress = Callable[[float, str], Any]


@dataclass
class FaceTrack:
    """One person's face: per clip frame its source frame index, box, score and crop."""

    frame_indices: np.ndarray  # (T,) int source frame indices
    boxes: np.ndarray  # (T, 4) float32 x1, y1, x2, y2, source pixels, smoothed
    scores: np.ndarray  # (T,) float32 detection score, interpolated between detector runs
    det_score: float  # mean score over the frames where the detector ran
    crops: np.ndarray | None = None  # (T, size, size, 3) uint8 RGB
    # (T, 5, 2) float32 MTCNN landmarks (eyes, nose, mouth corners) in source pixels, interpolated and
    # smoothed like the boxes; None for tracks of geometry files written before landmarks were kept
    landmarks: np.ndarray | None = None

    @property
    def face_size(self) -> float:
        return float(np.median(np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])))

    def geometry(self) -> dict[str, Any]:
        """JSON-able boxes (no crops), what a fake needs to reuse its original's track."""
        return {
            "frame_indices": self.frame_indices.tolist(),
            "boxes": np.round(self.boxes, 2).tolist(),
            "scores": np.round(self.scores, 4).tolist(),
            "det_score": round(self.det_score, 6),
            **({"landmarks": np.round(self.landmarks, 2).tolist()} if self.landmarks is not None else {}),
        }

    @classmethod
    def from_geometry(cls, data: dict[str, Any]) -> FaceTrack:
        return cls(
            frame_indices=np.asarray(data["frame_indices"], np.int64),
            boxes=np.asarray(data["boxes"], np.float32).reshape(-1, 4),
            scores=np.asarray(data["scores"], np.float32),
            det_score=float(data["det_score"]),
            landmarks=(np.asarray(data["landmarks"], np.float32).reshape(-1, 5, 2) if "landmarks" in data else None),
        )

    def crop_landmarks(self, margin: float, size: int) -> np.ndarray | None:
        """The landmarks in this track's crop pixels (T, 5, 2), or None."""
        if self.landmarks is None:
            return None
        return landmarks_in_crop(self.boxes, self.landmarks, margin, size)


@dataclass
class VideoFaces:
    path: str
    fps: float
    num_frames: int  # frames in the video (as decoded when the header was wrong)
    frames_read: int  # frames decoded for the clip (after frame_stride / max_frames)
    width: int
    height: int
    backend: str
    tracks: list[FaceTrack]
    cuts: list[int] = field(default_factory=list)  # source frames where a new shot starts (no track crosses one)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: decode, detect, track, crop, total


def _timed(it: Iterator, timings: dict[str, float], key: str) -> Iterator:
    """Charge the time spent inside the iterator (decoding) to ``timings[key]``."""
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            timings[key] += time.perf_counter() - t
            return
        timings[key] += time.perf_counter() - t
        yield item


def extract_tracks(
    video_path: str | Path,
    faces_cfg: FaceCropConfig,
    progress: Progress | None = None,
    reuse: Sequence[FaceTrack] | None = None,
    detector: FaceDetector | None = None,
) -> VideoFaces:
    """Find, track and crop the faces of one video.

    ``reuse``: tracks of another video with the same geometry (a fake's original); detection is
    skipped and the same boxes are cut from this video. Raises VideoDecodeError when the file
    cannot be read.
    """
    timings = dict.fromkeys(("decode", "detect", "track", "crop"), 0.0)
    t_start = time.perf_counter()
    t = time.perf_counter()
    reader = VideoReader(video_path)
    info = reader.info
    timings["decode"] += time.perf_counter() - t

    clip_idx = np.arange(0, info.num_frames, faces_cfg.frame_stride)
    if faces_cfg.max_frames is not None:
        clip_idx = clip_idx[: faces_cfg.max_frames]
    pos_of = {int(i): p for p, i in enumerate(clip_idx)}
    n = len(clip_idx)
    every = faces_cfg.detector.every

    if reuse is None:
        det_pos = set(range(0, n, every)) | {n - 1}
        needed = clip_idx
        detector = detector or FaceDetector(faces_cfg.detector)
    else:
        det_pos = set()
        wanted = set()
        for tr in reuse:
            wanted.update(int(i) for i in tr.frame_indices if int(i) in pos_of)
        needed = np.asarray(sorted(wanted), np.int64)

    cache_ok = len(needed) * info.width * info.height * 3 <= faces_cfg.frame_cache_mb * 2**20
    cache: dict[int, np.ndarray] = {}
    detections: list[tuple[int, np.ndarray, np.ndarray]] = []
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        t = time.perf_counter()
        results = detector.detect([f for _, f in pending])
        detections.extend((p, *res) for (p, _), res in zip(pending, results, strict=True))
        pending.clear()
        timings["detect"] += time.perf_counter() - t

    frames_read = 0
    last_pos = -1
    threshold = faces_cfg.tracker.cut_threshold if reuse is None else None  # a fake's tracks were cut already
    cuts: list[int] = []
    prev: tuple[int, np.ndarray, np.ndarray] | None = None  # (position, frame, signature) of the frame before
    for idx, frame in _timed(reader.frames(needed), timings, "decode"):
        pos = pos_of[idx]
        frames_read += 1
        last_pos = pos
        if cache_ok:
            cache[pos] = frame
        if threshold is not None:
            t = time.perf_counter()
            sig = frame_signature(frame)
            if prev is not None and signature_distance(prev[2], sig) > threshold:
                # A new shot: detect on both sides of the cut, so tracks end and start right at it.
                cuts.append(pos)
                if prev[0] not in det_pos:
                    det_pos.add(prev[0])
                    pending.append((prev[0], prev[1]))
                det_pos.add(pos)
            prev = (pos, frame, sig)
            timings["track"] += time.perf_counter() - t
        if pos in det_pos:
            pending.append((pos, frame))
            if len(pending) >= faces_cfg.detector.batch_size:
                flush()
        if progress is not None and frames_read % 16 == 0:
            progress(0.8 * frames_read / max(len(needed), 1), "detecting faces")
    if frames_read == 0:
        raise VideoDecodeError("no frame could be decoded")
    if reuse is None and last_pos not in det_pos:
        # The header promised more frames than the stream has: detect on the true last frame too.
        frame = cache.get(last_pos)
        if frame is None:
            frame = next(iter(dict(reader.frames([int(clip_idx[last_pos])])).values()))
        pending.append((last_pos, frame))
    if pending:
        flush()

    t = time.perf_counter()
    if reuse is None:
        raw = build_tracks(detections, faces_cfg.tracker, every, Shots(cuts))
        tracks = [FaceTrack(clip_idx[r.positions], r.boxes, r.scores, r.det_score, landmarks=r.landmarks)
                  for r in raw]
    else:
        tracks = []
        for tr in reuse:
            keep = np.array([int(i) in pos_of and pos_of[int(i)] <= last_pos for i in tr.frame_indices], bool)
            if keep.any():
                lms = tr.landmarks[keep] if tr.landmarks is not None else None
                tracks.append(FaceTrack(tr.frame_indices[keep], tr.boxes[keep], tr.scores[keep], tr.det_score,
                                        landmarks=lms))
    timings["track"] += time.perf_counter() - t

    _crop_tracks(reader, tracks, cache, pos_of, faces_cfg, timings)
    if progress is not None:
        progress(1.0, "faces cropped")
    timings["total"] = time.perf_counter() - t_start
    return VideoFaces(
        path=str(video_path),
        fps=info.fps,
        num_frames=info.num_frames if frames_read == len(needed) else int(clip_idx[last_pos]) + 1,
        frames_read=frames_read,
        width=info.width,
        height=info.height,
        backend=info.backend,
        tracks=tracks,
        cuts=[int(clip_idx[p]) for p in cuts],
        timings=timings,
    )


def _crop_tracks(
    reader: VideoReader,
    tracks: list[FaceTrack],
    cache: dict[int, np.ndarray],
    pos_of: dict[int, int],
    cfg: FaceCropConfig,
    timings: dict[str, float],
) -> None:
    """Fill ``track.crops`` from cached frames, or from a second decoding pass when not cached."""
    if not tracks:
        return
    by_index: dict[int, list[tuple[FaceTrack, int]]] = {}
    for tr in tracks:
        tr.crops = np.zeros((len(tr.frame_indices), cfg.size, cfg.size, 3), np.uint8)
        for k, idx in enumerate(tr.frame_indices):
            by_index.setdefault(int(idx), []).append((tr, k))
    if cache:
        frames = ((idx, cache[pos_of[idx]]) for idx in sorted(by_index))
    else:
        frames = _timed(reader.frames(sorted(by_index)), timings, "decode")
    for idx, frame in frames:
        t = time.perf_counter()
        for tr, k in by_index[idx]:
            tr.crops[k] = crop_face(frame, tr.boxes[k], cfg.margin, cfg.size)
        timings["crop"] += time.perf_counter() - t
