"""One video -> face tracks with crops, in memory. The dataset runner and inference both call this.

Stages, in one streaming pass: decode the clip frames, detect faces on every k-th of them
(downscaled, in batches), link detections into tracks (interpolated, smoothed, filtered), cut the
crops from the full-resolution frames as soon as no later detection can move their boxes. Memory
holds the crops and a fixed window of frames, whatever the video's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .clips import JpegFrames, encode_jpeg
from .config import ClipConfig, FaceCropConfig
from .cropping import crop_face, landmarks_in_crop
from .detection import FaceDetector
from .shots import Shots, frame_signature, signature_distance
from .tracking import Linker, densify, effective_gap, keep_tracks, keeps
from .video import VideoDecodeError, VideoReader, fix_mmap_threshold

# progress(fraction in [0, 1], description) -- the call signature of gradio.Progress and easy to adapt.
Progress = Callable[[float, str], Any]


@dataclass
class FaceTrack:
    """One person's face: per clip frame its source frame index, box, score and crop."""

    frame_indices: np.ndarray  # (T,) int source frame indices
    boxes: np.ndarray  # (T, 4) float32 x1, y1, x2, y2, source pixels, smoothed
    scores: np.ndarray  # (T,) float32 detection score, interpolated between detector runs
    det_score: float  # mean score over the frames where the detector ran
    crops: np.ndarray | JpegFrames | None = None  # (T, size, size, 3) uint8 RGB; JpegFrames: kept as JPEG
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
    clip: ClipConfig | None = None,
) -> VideoFaces:
    """Find, track and crop the faces of one video, in one pass over its frames.

    Frames stream through: each is checked for a shot cut, every ``detector.every``-th is batched for
    the detector, and the linker takes each batch's detections in order. A frame is held only until no
    later detection can move a box at its position (``Linker.settled``): then its crops are cut and the
    frame goes. So memory holds the crops (at clip size) and a window of frames of fixed length (the
    detector's batch and the tracker's gap and smoothing), whatever the video's length.

    ``reuse``: tracks of another video with the same geometry (a fake's original); detection is
    skipped and the same boxes are cut from this video. ``clip``: keep each crop JPEG-encoded with the
    clip store's settings as soon as it is cut (``JpegFrames``: ~15 KB a 224-px crop against 150 KB raw,
    and exactly what a clip written with those settings reads back), so even the crops of a long video
    take little memory. Raises VideoDecodeError when the file cannot be read.
    """
    fix_mmap_threshold()  # frames to and from the OS, not fragmenting the heap (video.py says why)
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
    stream = _TrackStream(faces_cfg, len(clip_idx), reuse, detector, timings, clip)
    needed = clip_idx if reuse is None else np.asarray(sorted(set(stream.reuse_at) & set(pos_of)), np.int64)
    frames_read = 0
    for idx, frame in _timed(reader.frames(needed), timings, "decode"):
        frames_read += 1
        stream.push(pos_of[idx], idx, frame)
        if progress is not None and frames_read % 16 == 0:
            progress(0.95 * frames_read / max(len(needed), 1), "detecting faces")
    if frames_read == 0:
        raise VideoDecodeError("no frame could be decoded")
    tracks = stream.finish(clip_idx)
    if progress is not None:
        progress(1.0, "faces cropped")
    timings["total"] = time.perf_counter() - t_start
    last_pos = stream.last_pos
    return VideoFaces(
        path=str(video_path),
        fps=info.fps,
        num_frames=info.num_frames if frames_read == len(needed) else int(clip_idx[last_pos]) + 1,
        frames_read=frames_read,
        width=info.width,
        height=info.height,
        backend=info.backend,
        tracks=tracks,
        cuts=[int(clip_idx[p]) for p in stream.shots.cuts],
        timings=timings,
    )


class _TrackStream:
    """The state of one pass: frames waiting to be cropped, the detector's batch, the linker, the crops."""

    def __init__(self, cfg: FaceCropConfig, n: int, reuse: Sequence[FaceTrack] | None,
                 detector: FaceDetector | None, timings: dict[str, float], clip: ClipConfig | None = None) -> None:
        self.cfg, self.n, self.reuse, self.timings = cfg, n, reuse, timings
        self.jpeg = None if clip is None else (clip.quality, clip.subsampling)
        self.every = cfg.detector.every
        self.shots = Shots()
        self.linker = Linker(cfg.tracker.iou_threshold, effective_gap(cfg.tracker, self.every),
                             cfg.tracker.max_shift, self.shots)
        self.detector = (detector or FaceDetector(cfg.detector)) if reuse is None else None
        # A fake's tracks were cut already; its original's cuts stand.
        self.threshold = cfg.tracker.cut_threshold if reuse is None else None
        self.frames: dict[int, np.ndarray] = {}  # position → frame, until every crop of it is cut
        self.pending: list[tuple[int, np.ndarray]] = []  # frames for the detector's next batch
        self.detected: set[int] = set()  # positions the detector ran (or will run) on
        self.prev: tuple[int, np.ndarray] | None = None  # (position, signature) of the frame before
        self.last_pos = -1
        self.cropped_to = 0  # every position before this is settled and cropped
        self.crops: dict[int, dict[int, np.ndarray]] = {}  # track → position (reuse: its frame's k) → crop
        self.max_frames_held = 0  # the most frames held at once (tests pin it)
        self.rejected: set[int] = set()  # closed tracks that failed the keep rules: no crops kept
        self.accepted: set[int] = set()  # closed tracks that passed them
        # reuse: source frame index → (track, k) of every crop to cut from that frame
        self.reuse_at: dict[int, list[tuple[int, int]]] = {}
        for i, tr in enumerate(reuse or ()):
            for k, j in enumerate(tr.frame_indices):
                self.reuse_at.setdefault(int(j), []).append((i, k))

    def push(self, pos: int, index: int, frame: np.ndarray) -> None:
        """The frame at clip position ``pos`` (source frame ``index``), in order."""
        self.last_pos = pos
        if self.reuse is not None:  # the boxes are known: cut at once, hold nothing
            t = time.perf_counter()
            for i, k in self.reuse_at.get(index, ()):
                self.crops.setdefault(i, {})[k] = self._cut(frame, self.reuse[i].boxes[k])
            self.timings["crop"] += time.perf_counter() - t
            return
        self.frames[pos] = frame
        self.max_frames_held = max(self.max_frames_held, len(self.frames))
        if self.threshold is not None:
            t = time.perf_counter()
            sig = frame_signature(frame)
            if self.prev is not None and signature_distance(self.prev[1], sig) > self.threshold:
                # A new shot: detect on both sides of the cut, so tracks end and start right at it.
                self.shots.add(pos)
                self._detect(self.prev[0])
                self._detect(pos)
            self.prev = (pos, sig)
            self.timings["track"] += time.perf_counter() - t
        if pos % self.every == 0 or pos == self.n - 1:
            self._detect(pos)
        if len(self.pending) >= self.cfg.detector.batch_size:
            self._flush()
            # The batch filled with this frame, so it has been detected: the next run is at a later frame
            # (a cut at the next frame adds this one, which is no new run).
            self._settle(self.linker.settled(pos + 1, self.cfg.tracker.smoothing))
            self._drop_rejected(pos + 1)

    def _detect(self, pos: int) -> None:
        if pos not in self.detected:
            self.detected.add(pos)
            self.pending.append((pos, self.frames[pos]))

    def _flush(self) -> None:
        if not self.pending:
            return
        t = time.perf_counter()
        batch = sorted(self.pending, key=lambda pf: pf[0])
        self.pending = []
        results = self.detector.detect([f for _, f in batch])
        self.timings["detect"] += time.perf_counter() - t
        t = time.perf_counter()
        for (pos, _), res in zip(batch, results, strict=True):
            self.linker.add(pos, *res)
        self.timings["track"] += time.perf_counter() - t

    def _settle(self, upto: int) -> None:
        """Cut the crops of every held frame before ``upto`` (no later detection moves their boxes), and
        let those frames go."""
        if upto <= self.cropped_to:
            return
        t = time.perf_counter()
        boxes = {}
        smoothing = self.cfg.tracker.smoothing
        for i, raw in enumerate(self.linker.tracks):
            if raw.positions[-1] >= self.cropped_to and raw.positions[0] < upto and i not in self.rejected:
                # only the detections the unsettled frames need: a long track costs the same at every settle
                part = raw.since(self.cropped_to - smoothing // 2)
                boxes[i] = (part.positions[0], densify(part, smoothing).boxes)
        for pos in sorted(p for p in self.frames if p < upto):
            frame = self.frames.pop(pos)
            for i, (first, track_boxes) in boxes.items():
                if 0 <= pos - first < len(track_boxes):
                    self.crops.setdefault(i, {})[pos] = self._cut(frame, track_boxes[pos - first])
        self.cropped_to = upto
        self.timings["crop"] += time.perf_counter() - t

    def _cut(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | bytes:
        crop = crop_face(frame, box, self.cfg.margin, self.cfg.size)
        return crop if self.jpeg is None else encode_jpeg(crop, *self.jpeg)

    def _stack(self, crops: dict[int, np.ndarray | bytes], keys: Sequence[int]) -> np.ndarray | JpegFrames:
        """A track's crops in order: JpegFrames when kept encoded, else one array filled one crop at a time,
        so two copies of a track's crops never coexist."""
        if self.jpeg is not None:
            return JpegFrames([crops.pop(int(key)) for key in keys], *self.jpeg, self.cfg.size)
        out = np.empty((len(keys), self.cfg.size, self.cfg.size, 3), np.uint8)
        for k, key in enumerate(keys):
            out[k] = crops.pop(int(key))
        return out

    def _drop_rejected(self, next_run: int) -> None:
        """Free the crops of tracks that have closed (no later run can extend them), are cropped to their
        end, and fail the keep rules (short, small or unsure: false detections, mostly)."""
        for i in [i for i in self.crops if i not in self.rejected and i not in self.accepted]:
            raw = self.linker.tracks[i]
            if raw.positions[-1] < self.cropped_to and not self.linker.is_open(raw, next_run):
                if keeps(densify(raw, self.cfg.tracker.smoothing), self.cfg.tracker):
                    self.accepted.add(i)  # decided: never looked at again
                else:
                    del self.crops[i]
                    self.rejected.add(i)

    def finish(self, clip_idx: np.ndarray) -> list[FaceTrack]:
        """The kept tracks with their crops, once the last frame has been pushed."""
        if self.reuse is not None:
            out = []
            for i, tr in enumerate(self.reuse):
                mine = self.crops.pop(i, {})
                keep = np.array([k in mine for k in range(len(tr.frame_indices))], bool)
                if keep.any():
                    out.append(FaceTrack(tr.frame_indices[keep], tr.boxes[keep], tr.scores[keep], tr.det_score,
                                         crops=self._stack(mine, np.flatnonzero(keep)),
                                         landmarks=tr.landmarks[keep] if tr.landmarks is not None else None))
            return out
        # The header promised more frames than the stream has: detect on the true last frame too.
        self._detect(self.last_pos)
        self._flush()
        self._settle(self.last_pos + 1)
        t = time.perf_counter()
        kept = keep_tracks(self.linker.tracks, self.cfg.tracker)
        self.timings["track"] += time.perf_counter() - t
        return [FaceTrack(clip_idx[r.positions], r.boxes, r.scores, r.det_score, landmarks=r.landmarks,
                          crops=self._stack(self.crops.pop(i), r.positions)) for i, r in kept]
