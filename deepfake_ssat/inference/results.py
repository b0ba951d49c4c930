"""What scoring a video returns: per-segment and per-track scores, the verdict, counts and timings, the
reconstruction view's images, and the options that shape them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

# progress(fraction in [0, 1], description): the signature of gradio.Progress and of preprocessing's callback.
Progress = Callable[[float, str], Any]
Verdict = Literal["real", "fake", "inconclusive"]


PRECISIONS = ("auto", "fp32", "bf16")  # inference precisions (fp16 needs a gradient scaler: training only)


@dataclass
class PredictOptions:
    """How a video is scored beyond what the checkpoint fixes."""

    batch_size: int = 8  # segments per forward pass
    # At most this many segments per face track (None = all); when a track has more, this many are
    # chosen evenly from first to last so the whole video is still covered.
    max_segments_per_track: int | None = 32
    # Tracks with fewer face frames than this are not scored (None = one clip's worth, the model's
    # num_frames); a video whose tracks are all shorter is inconclusive.
    min_face_frames: int | None = None
    # Face crops kept per track for display (middle frame of evenly chosen scored segments).
    crops_per_track: int = 8
    # int8 dynamic quantisation of the classifier's Linear layers (CPU only; faster, scores differ slightly).
    int8: bool = False
    # auto: bf16 autocast on GPUs and on CPUs with native bf16 matrix units, else fp32 (as training and
    # eval); int8 always runs its activations in fp32.
    precision: str = "auto"

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")
        if self.max_segments_per_track is not None and self.max_segments_per_track < 1:
            raise ValueError(f"max_segments_per_track: must be >= 1 or None, got {self.max_segments_per_track}")
        if self.min_face_frames is not None and self.min_face_frames < 1:
            raise ValueError(f"min_face_frames: must be >= 1 or None, got {self.min_face_frames}")
        if self.crops_per_track < 0:
            raise ValueError(f"crops_per_track: must be >= 0, got {self.crops_per_track}")


@dataclass
class SegmentScore:
    track: int
    start_s: float
    end_s: float
    first_frame: int  # source frame index of the segment's first sampled frame
    last_frame: int
    fake_prob: float


@dataclass
class TrackScore:
    index: int  # the track's number in the video (0-based, in the order preprocessing found them)
    score: float | None  # mean fake probability of its scored segments; None when not scored
    segments: int  # segments scored
    segments_total: int  # segments before the cap
    face_frames: int
    start_s: float
    end_s: float
    face_size: float  # median face box side, source pixels
    det_score: float
    crops: np.ndarray | None = field(default=None, repr=False)  # (K, S, S, 3) uint8 RGB, for display
    skipped: str | None = None  # why the track was not scored


@dataclass
class Prediction:
    """Everything known about one video after scoring it; ``to_dict()`` is its JSON form."""

    path: str
    verdict: Verdict
    score: float | None  # video fake probability (max over tracks); None when inconclusive
    threshold: float
    reason: str | None  # why inconclusive
    fake_track: int | None  # the track that set the score
    tracks: list[TrackScore]
    segments: list[SegmentScore]
    counts: dict[str, int]  # video_frames, frames_read, face_frames, tracks, tracks_scored, segments, ...
    timings: dict[str, float]  # seconds per stage: decode, detect, track, crop, prepare, model, total
    notes: list[str]
    fps: float
    duration_s: float
    width: int
    height: int
    # One scored clip (the most fake segment of the most fake track), model input size, uint8
    # (T, H, W, 3): the input of the reconstruction view. Not part of the JSON form.
    clip: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("clip")
        for t in d["tracks"]:
            t.pop("crops")
        return _round(d)


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 6) if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


@dataclass
class Reconstruction:
    """What the SSAT decoder makes of one masked clip (all images uint8 RGB, model input size)."""

    original: np.ndarray  # (T, H, W, 3)
    masked: np.ndarray  # (T, H, W, 3) hidden tubes greyed out
    reconstruction: np.ndarray  # (T, H, W, 3) visible tubes as given, hidden tubes as predicted
    error: np.ndarray  # (T', h, w) float: per-tube MSE in the normalised target space, NaN where visible
    mask_ratio: float
    mean_error: float  # mean over the hidden tubes


def format_table(results: list[Prediction | tuple[str, str]]) -> list[tuple[str, ...]]:
    """Rows (file, verdict, fake prob, tracks, segments, seconds, note) for a terminal table.

    ``results`` holds a Prediction per scored file and (path, error message) per failed one.
    """
    rows = []
    for r in results:
        if isinstance(r, Prediction):
            prob = "-" if r.score is None else f"{r.score:.3f}"
            note = r.reason or ("; ".join(r.notes) if r.notes else "")
            rows.append((Path(r.path).name, r.verdict, prob, str(r.counts["tracks"]), str(r.counts["segments"]),
                         f"{r.timings['total']:.1f}", note))
        else:
            rows.append((Path(r[0]).name, "error", "-", "-", "-", "-", r[1]))
    return rows
