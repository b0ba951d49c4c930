"""Face-track clips from the preprocessing manifest: track selection, clip sampling, datasets.

Training draws one clip per track at a random position (``ClipDataset``); evaluation cuts every
track into segments that together cover all of it (``SegmentDataset``), so a video's score uses
the whole video (paper, Appendix D). Tensors are (C, T, H, W) float32, normalised with the
model's mean/std, as the video models take them (``clip_to_tensor``, the one conversion).
Single-video inference builds a ``SegmentDataset`` over the crops it holds in memory (``frames=``),
so it cuts, converts and scores segments exactly as evaluation does.

Short tracks (see ``clip_indices``) are kept with a smaller stride or repeated frames: dropping
them would silently bias evaluation towards videos with long, stable face tracks.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from preprocessing.clips import read_clip

from ..config import PseudoFakeConfig
from .augment import resize_clip

log = logging.getLogger(__name__)

Row = dict[str, Any]


# --------------------------------------------------------------------------- selection


def _as_list(split: str | Sequence[str]) -> list[str]:
    return [split] if isinstance(split, str) else list(split)


@dataclass(frozen=True)
class Pick:
    """Per method the splits its tracks are taken from, and per method identities taken from every split
    (the leave-one-out protocol tests a held-out method's fakes with the reals of the same people, which
    no fold trained on)."""

    splits: Mapping[str, str | Sequence[str]]
    people: Mapping[str, Collection[str]] = field(default_factory=dict)

    def __call__(self, row: Row) -> bool:
        return (row["split"] in _as_list(self.splits.get(row["method"], ()))
                or row["identity"] in self.people.get(row["method"], ()))

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys([*self.splits, *self.people]))


# Which tracks: a split name, several, per method its splits ({"real": ["test"], "vasa1": ["train", "val",
# "test"]}: the leave-one-out protocol tests on every video of a method no fold trained on), or a Pick.
Selection = str | Sequence[str] | Mapping[str, str | Sequence[str]] | Pick


def _selector(split: Selection, methods: Sequence[str] | None) -> tuple[Callable[[Row], bool], list[str] | None]:
    if isinstance(split, Mapping):
        split = Pick(split)
    if isinstance(split, Pick):
        if methods is not None:
            raise ValueError("methods are the keys of a per-method split selection; do not pass them too")
        return split, split.methods
    splits = _as_list(split)
    return (lambda r: r["split"] in splits and (methods is None or r["method"] in methods)), (
        list(methods) if methods is not None else None)


def _check_methods(rows: list[Row], methods: Sequence[str] | None) -> None:
    if methods is None:
        return
    known = {r["method"] for r in rows}
    unknown = [m for m in methods if m not in known]
    if unknown:  # a typo would otherwise just select fewer videos
        raise ValueError(f"methods {unknown} not in the manifest; it has {sorted(known)}")


def select_tracks(rows: list[Row], split: Selection, methods: Sequence[str] | None = None) -> list[Row]:
    """The usable (status 'ok') tracks of ``split`` (one, several, or per method), optionally of ``methods``.

    ``methods`` are manifest method names; real videos have method 'real'. ValueError when nothing
    is selected, naming the split and methods and what the manifest has.
    """
    keep, named = _selector(split, methods)
    _check_methods(rows, named)
    out = [r for r in rows if r["status"] == "ok" and keep(r)]
    if not out:
        have = sorted({(r["split"], r["method"]) for r in rows if r["status"] == "ok"})
        shown = split if isinstance(split, (Mapping, Pick)) else _as_list(split)
        raise ValueError(f"no usable face tracks for split {shown} and methods {named or 'all'}; "
                         f"the manifest has ok tracks for (split, method) {have or 'none'}")
    return out


def unusable_videos(rows: list[Row], split: Selection, methods: Sequence[str] | None = None) -> list[Row]:
    """One reason row (status != 'ok') per video of ``split`` that has no usable track.

    Evaluation reports these separately (no face, decode error, …) instead of scoring them.
    """
    keep, named = _selector(split, methods)
    _check_methods(rows, named)
    mine = [r for r in rows if keep(r)]
    usable = {r["video_id"] for r in mine if r["status"] == "ok"}
    out: dict[str, Row] = {}
    for r in mine:
        if r["video_id"] not in usable:
            out.setdefault(r["video_id"], r)
    return list(out.values())


# --------------------------------------------------------------------------- frame sampling


def _effective_stride(track_len: int, num_frames: int, stride: int) -> int:
    """The stride actually used; 0 means 'repeat frames' (track shorter than ``num_frames``)."""
    if track_len <= 0:
        raise ValueError(f"a track needs at least one frame, got {track_len}")
    if num_frames <= 0 or stride <= 0:
        raise ValueError(f"num_frames and stride must be positive, got {num_frames}, {stride}")
    if num_frames == 1:
        return stride
    return min(stride, (track_len - 1) // (num_frames - 1))


def max_clip_start(track_len: int, num_frames: int, stride: int) -> int:
    """Largest valid ``start`` for ``clip_indices`` (0 when the whole track is one clip)."""
    s = _effective_stride(track_len, num_frames, stride)
    return 0 if s == 0 else track_len - ((num_frames - 1) * s + 1)


def clip_indices(track_len: int, num_frames: int, stride: int, start: int) -> np.ndarray:
    """Clip-frame positions of one clip: ``start + stride * arange(num_frames)``, with the short-track rule.

    Short-track rule (a track is never dropped; only a 0-frame track is invalid):

    1. If the track is shorter than a clip's span ``(num_frames - 1) * stride + 1``, use the largest
       smaller stride that fits, ``(track_len - 1) // (num_frames - 1)``.
    2. If even stride 1 does not fit (``track_len < num_frames``), repeat frames: the whole track
       resampled to ``num_frames`` evenly spaced positions, ``np.rint(np.linspace(0, track_len - 1,
       num_frames))`` (``start`` must be 0). E.g. 3 frames → 4: [0, 1, 1, 2].

    ``start`` must lie in ``[0, max_clip_start(track_len, num_frames, stride)]``. Returns int64 (num_frames,).
    """
    s = _effective_stride(track_len, num_frames, stride)
    last = max_clip_start(track_len, num_frames, stride)
    if not 0 <= start <= last:
        raise ValueError(f"clip start {start} outside [0, {last}] for a {track_len}-frame track "
                         f"({num_frames} frames, stride {stride})")
    if s == 0:
        return np.rint(np.linspace(0, track_len - 1, num_frames)).astype(np.int64)
    return start + s * np.arange(num_frames, dtype=np.int64)


def segment_starts(track_len: int, num_frames: int, stride: int, step: int | None = None) -> list[int]:
    """Starts of the evaluation segments of one track, covering every frame.

    Segments start every ``step`` frames (default ``num_frames * s``, non-overlapping, where ``s``
    is the stride after the short-track rule). A segment stands for the ``num_frames * s`` frames
    from its start (each sampled frame represents ``s`` frames); when the last regular segment does
    not reach the track's end, one more segment is added, shifted to end exactly at the last frame.
    A track no longer than one clip gives one segment.
    """
    s = _effective_stride(track_len, num_frames, stride)
    last = max_clip_start(track_len, num_frames, stride)
    if s == 0 or last == 0:
        return [0]
    step = num_frames * s if step is None else step
    if step <= 0:
        raise ValueError(f"segment_step must be positive, got {step}")
    starts = list(range(0, last + 1, step))
    if starts[-1] + num_frames * s < track_len:  # tail not reached: shift a final segment to the end
        starts.append(last)
    return starts


def segment_times(row: Row, indices: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """(start_s, end_s) in source-video seconds of the clip frames ``indices`` of track ``row``.

    From the first sampled frame's start to the end of the last sampled frame's display interval,
    via the row's ``frame_indices`` (source frame of each clip frame) and ``fps``.
    """
    fps = row.get("fps")
    if not fps:
        raise ValueError(f"{row['video_id']}: no fps in the manifest row, cannot place segments in time")
    src = row["frame_indices"]
    return src[int(np.min(indices))] / fps, (src[int(np.max(indices))] + 1) / fps


# --------------------------------------------------------------------------- datasets


def pick_evenly(n: int, k: int) -> np.ndarray:
    """``k`` of ``range(n)`` spread from first to last (all when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.rint(np.linspace(0, n - 1, k)).astype(np.int64))


def clip_to_tensor(frames: np.ndarray, size: int, mean: torch.Tensor, std: torch.Tensor,
                   lowpass_sigma: float = 0.0) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (3, T, size, size) float32 in the model's normalisation (``mean``/``std``
    shaped (3, 1, 1, 1)); frames not already ``size`` square get evaluation's resize, then, with
    ``lowpass_sigma`` > 0, a Gaussian blur of that sigma (``data.lowpass_sigma``)."""
    frames = resize_clip(frames, size)
    if lowpass_sigma > 0:
        import cv2

        frames = np.stack([cv2.GaussianBlur(f, (0, 0), lowpass_sigma) for f in frames])
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)
    return x.sub_(mean).div_(std)


def _clip_path(root: Path, row: Row) -> Path:
    return root / row["clip"]


def _missing_message(path: Path, root: Path, row: Row, more: int = 0) -> str:
    extra = f" (and {more} more clip files)" if more else ""
    return (f"clip file {path} of {row['video_id']} is missing{extra}: the preprocessed data in {root} is "
            f"incomplete. Re-run `deepfake-ssat preprocess --dataset {row['dataset']} --out {root}` "
            "(into a fresh --out folder if the rerun skips these videos as finished)")


class _TrackData(Dataset):
    """Rows, frame reading and normalisation shared by the training and evaluation datasets.

    Frames come from each row's clip file under ``root``, or, with ``frames`` (one (T, H, W, 3) uint8
    array per row), from memory: single-video inference, whose rows need no ``clip``.
    """

    def __init__(self, rows: list[Row], root: str | Path | None, num_frames: int, stride: int, size: int,
                 mean: Sequence[float], std: Sequence[float], frames: Sequence[np.ndarray] | None = None,
                 lowpass_sigma: float = 0.0):
        if not rows:
            raise ValueError("no face tracks given (empty selection)")
        if num_frames <= 0 or stride <= 0 or size <= 0:
            raise ValueError(f"num_frames, stride and size must be positive, got {num_frames}, {stride}, {size}")
        if frames is not None and len(frames) != len(rows):
            raise ValueError(f"{len(frames)} frame arrays for {len(rows)} tracks")
        self.rows = list(rows)
        self.root = Path(root) if root is not None else None
        self.frames = list(frames) if frames is not None else None
        self.num_frames, self.stride, self.size = num_frames, stride, size
        self.lowpass_sigma = lowpass_sigma
        for r in self.rows:
            if r["status"] != "ok" or (self.frames is None and not r["clip"]) or r["num_frames"] <= 0:
                raise ValueError(f"{r['video_id']} track {r['track']}: not a usable track "
                                 f"(status {r['status']!r}, {r['num_frames']} frames); select with select_tracks")
        if self.frames is None:
            if self.root is None:
                raise ValueError("root: the folder of the clip files is needed when frames are not given")
            # Check files up front: a missing clip should fail at start-up, not hours into an epoch.
            missing = [r for r in self.rows if not _clip_path(self.root, r).is_file()]
            if missing:
                raise FileNotFoundError(_missing_message(_clip_path(self.root, missing[0]), self.root, missing[0],
                                                         len(missing) - 1))
        self.labels = np.array([r["label"] for r in self.rows], dtype=np.int64)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)

    def _read(self, track: int, indices: np.ndarray) -> np.ndarray:
        if self.frames is not None:
            return self.frames[track][indices]
        row = self.rows[track]
        path = _clip_path(self.root, row)
        try:
            return read_clip(path, indices)
        except FileNotFoundError:
            raise FileNotFoundError(_missing_message(path, self.root, row)) from None

    def _to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        return clip_to_tensor(frames, self.size, self._mean, self._std, self.lowpass_sigma)

    def _pseudo_fake(self, track: int, indices: np.ndarray, frames: np.ndarray, cfg: PseudoFakeConfig,
                     rng: np.random.Generator, jitter_rng: np.random.Generator | None = None) -> np.ndarray:
        """The frames of a real track self-blended with one draw of ``rng`` (data/pseudo_fakes.py); the
        per-frame jitter comes from ``jitter_rng`` (default ``rng``)."""
        from preprocessing.clips import read_landmarks

        from .pseudo_fakes import draw, self_blend

        landmarks = read_landmarks(_clip_path(self.root, self.rows[track]), indices)
        fake, _ = self_blend(frames, landmarks, draw(cfg, rng), cfg.jitter, jitter_rng or rng)
        return fake


def _need_landmarks(rows: list[Row], root: Path | None) -> None:
    missing = [r for r in rows if not r.get("landmarks")]
    if missing:
        raise ValueError(
            f"pseudo-fakes need the face landmarks of every real track, and {len(missing)} tracks in {root} have "
            f"none (e.g. {missing[0]['video_id']}): that data was preprocessed before landmarks were kept. "
            f"Preprocess it again into a new folder: deepfake-ssat preprocess --dataset {missing[0]['dataset']} "
            "--root <raw videos> --out <new folder>")


def pseudo_twins(rows: list[Row]) -> list[Row]:
    """A fixed pseudo-fake twin of every real row (validation: checkpoints are still chosen on held-out
    data, the same twins every evaluation): label 1, method ``pseudo``, its own seed from the video id."""
    out = []
    for r in rows:
        if r["label"] == 0:
            seed = int.from_bytes(hashlib.sha1(f"{r['video_id']}/{r['track']}".encode()).digest()[:8], "big")
            out.append({**r, "video_id": f"{r['video_id']}#pseudo", "original": r["video_id"], "label": 1,
                        "method": "pseudo", "pseudo_seed": seed})
    return out


class ClipDataset(_TrackData):
    """Training: one item per track, a clip at a random position → ``(x (3, T, size, size), label)``.

    The position comes from torch's global RNG (and the augmentation from Python's ``random``),
    both reseeded per epoch by the engine and per worker by the DataLoader, so runs reproduce.
    ``labels`` (int64 array, one per track) feeds class weights and the balanced sampler.
    """

    def __init__(self, rows: list[Row], root: str | Path, num_frames: int, stride: int, size: int,
                 mean: Sequence[float], std: Sequence[float],
                 augment: Callable[[np.ndarray], np.ndarray] | None = None, lowpass_sigma: float = 0.0,
                 pseudo_fakes: PseudoFakeConfig | None = None):
        super().__init__(rows, root, num_frames, stride, size, mean, std, lowpass_sigma=lowpass_sigma)
        self.augment = augment
        # Items: (track, pseudo-fake?). Pseudo-fake items reuse the real tracks in turn, as many as make
        # ``share`` of all items; their label is fake, so class weights and the balanced sampler count them.
        self.pseudo = pseudo_fakes if pseudo_fakes is not None and pseudo_fakes.kind != "none" else None
        self.items: list[tuple[int, bool]] = [(i, False) for i in range(len(self.rows))]
        if self.pseudo is not None:
            reals = [i for i, r in enumerate(self.rows) if r["label"] == 0]
            if not reals:
                raise ValueError("pseudo-fakes are made from real tracks, and the training split has none")
            _need_landmarks([self.rows[i] for i in reals], self.root)
            n = round(self.pseudo.share / (1 - self.pseudo.share) * len(self.rows))
            self.items += [(reals[k % len(reals)], True) for k in range(n)]
        self.labels = np.array([1 if fake else self.rows[i]["label"] for i, fake in self.items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        track, pseudo = self.items[i]
        row = self.rows[track]
        n = row["num_frames"]
        start = int(torch.randint(max_clip_start(n, self.num_frames, self.stride) + 1, ()).item())
        indices = clip_indices(n, self.num_frames, self.stride, start)
        frames = self._read(track, indices)
        if pseudo:  # one draw per clip from Python's random, reseeded per epoch and worker like augmentation
            rng = np.random.default_rng(random.getrandbits(64))
            frames = self._pseudo_fake(track, indices, frames, self.pseudo, rng)
        if self.augment is not None:
            frames = self.augment(frames)
        if frames.shape[1:3] != (self.size, self.size) and self.augment is not None:
            raise ValueError(f"augment returned {frames.shape[1:3]} frames, expected {self.size}x{self.size}")
        return self._to_tensor(frames), int(self.labels[i])


class SegmentDataset(_TrackData):
    """Evaluation: every segment of every track → ``(x (3, T, size, size), label, track_idx)``.

    ``segments[i] = (track_idx, start)`` with starts from ``segment_starts`` (non-overlapping by
    default, ``segment_step`` frames apart otherwise; every frame covered); ``rows[track_idx]`` is
    the track's manifest row. ``max_segments_per_track`` keeps at most that many segments of a track,
    spread evenly from its first to its last (``segments_total[track]`` counts them before the cap).
    """

    def __init__(self, rows: list[Row], root: str | Path | None, num_frames: int, stride: int, size: int,
                 mean: Sequence[float], std: Sequence[float], segment_step: int | None = None,
                 frames: Sequence[np.ndarray] | None = None, max_segments_per_track: int | None = None,
                 lowpass_sigma: float = 0.0, pseudo_fakes: PseudoFakeConfig | None = None):
        # With pseudo-fakes, every real track gets a fixed pseudo-fake twin (``pseudo_twins``).
        self.pseudo = pseudo_fakes if pseudo_fakes is not None and pseudo_fakes.kind != "none" else None
        if self.pseudo is not None:
            _need_landmarks([r for r in rows if r["label"] == 0], Path(root) if root is not None else None)
            rows = [*rows, *pseudo_twins(rows)]
        super().__init__(rows, root, num_frames, stride, size, mean, std, frames, lowpass_sigma)
        self.segment_step = segment_step
        self.segments: list[tuple[int, int]] = []
        self.segments_total: list[int] = []
        for t, r in enumerate(self.rows):
            starts = segment_starts(r["num_frames"], num_frames, stride, segment_step)
            self.segments_total.append(len(starts))
            if max_segments_per_track is not None:
                starts = [starts[k] for k in pick_evenly(len(starts), max_segments_per_track)]
            self.segments += [(t, s) for s in starts]

    def __len__(self) -> int:
        return len(self.segments)

    def segment_indices(self, i: int) -> np.ndarray:
        track, start = self.segments[i]
        return clip_indices(self.rows[track]["num_frames"], self.num_frames, self.stride, start)

    def segment_times(self, i: int) -> tuple[float, float]:
        """(start_s, end_s) of segment ``i`` in its source video."""
        return segment_times(self.rows[self.segments[i][0]], self.segment_indices(i))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        track, start = self.segments[i]
        row = self.rows[track]
        indices = self.segment_indices(i)
        frames = self._read(track, indices)
        if row.get("pseudo_seed") is not None:  # the same draw for every segment of the twin: one fake video
            seed = row["pseudo_seed"]
            frames = self._pseudo_fake(track, indices, frames, self.pseudo, np.random.default_rng(seed),
                                       np.random.default_rng((seed, start)))
        return self._to_tensor(frames), int(row["label"]), track


def collate_clips(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """→ x (B, 3, T, H, W) float32, y (B,) int64."""
    xs, ys = zip(*batch, strict=True)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def collate_segments(batch: list[tuple[torch.Tensor, int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """→ x (B, 3, T, H, W) float32, y (B,) int64, track_idx (B,) int64."""
    xs, ys, ts = zip(*batch, strict=True)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64), torch.tensor(ts, dtype=torch.int64)
