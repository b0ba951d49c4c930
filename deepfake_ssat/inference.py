"""Single-video inference: a video file → face tracks → 16-frame segments → fake probabilities → verdict.

``Predictor.from_checkpoint(path)`` rebuilds the classifier of a checkpoint (the decoder is not
loaded) and everything around it from the checkpoint's data config, so the demo and the command
line score a video exactly as evaluation scored the test set:

- faces: ``preprocessing.extract_tracks`` with the face-crop settings that made the training data
  (detector, tracker, margin, crop size), recorded in the checkpoint;
- segments: every track is cut like ``SegmentDataset`` cuts it (``segment_starts`` /
  ``clip_indices`` with the training ``clip_stride`` and ``segment_step``), frames resized with
  ``resize_clip`` and normalised with the model's mean/std;
- scores: softmax per segment, mean per track, max over tracks (``metrics.track_scores`` /
  ``video_scores``), verdict at the checkpoint's validation threshold.

A video without a usable face gets the verdict ``inconclusive`` and no score (never a made-up 0.5).
Long videos: at most ``max_segments_per_track`` segments per track are scored, spread uniformly
over the whole track, and the result says so in ``notes``.

``Predictor.reconstruction(result)`` is the one place the decoder runs: it masks one scored clip
the way training did and shows what the SSAT decoder makes of it (checkpoints trained with
``mode=ssat`` or ``pretrain`` only).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .checkpoint import checkpoint_model_config, model_from_checkpoint, read_checkpoint
from .data.augment import resize_clip
from .data.video import clip_indices, segment_starts, segment_times
from .metrics import track_scores, video_scores
from .models import SSATModel

log = logging.getLogger(__name__)

# progress(fraction in [0, 1], description): the signature of gradio.Progress and of preprocessing's callback.
Progress = Callable[[float, str], Any]
Verdict = Literal["real", "fake", "inconclusive"]

# Share of the progress bar spent on faces (decode + detect + crop); the rest is the model.
_FACE_SHARE = 0.75


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

    def validate(self) -> None:
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


def _auto_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _pick_evenly(n: int, k: int) -> np.ndarray:
    """``k`` of ``range(n)`` spread from first to last (all when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.rint(np.linspace(0, n - 1, k)).astype(np.int64))


class Predictor:
    """Scores videos with one checkpoint. Build with ``Predictor.from_checkpoint(path)``."""

    def __init__(self, ckpt: dict[str, Any], device: str | torch.device = "auto", name: str = "checkpoint",
                 options: PredictOptions | None = None):
        from preprocessing.config import FaceCropConfig

        from .configschema import from_dict

        self.options = options or PredictOptions()
        self.options.validate()
        self.name = name
        self.data_config: dict[str, Any] = dict(ckpt.get("data_config") or {})
        dc = self.data_config
        if dc.get("kind") != "video":
            raise ValueError(f"{name} is a {dc.get('kind', 'unknown')} model; video inference needs a video checkpoint")
        mode = checkpoint_model_config(ckpt).mode
        if mode == "pretrain":
            raise ValueError(f"{name} was trained with mode=pretrain (reconstruction only) and has no classifier; "
                             "fine-tune it first")
        self.mode = mode
        self.has_decoder = mode in ("ssat", "pretrain") and any(k.startswith("decoder.") for k in ckpt["model"])
        self.device = _auto_device(device)
        self.model: SSATModel = model_from_checkpoint(ckpt, with_decoder=False).to(self.device).eval()
        self._ckpt = ckpt if self.has_decoder else None  # kept only for the lazily built reconstruction model
        self._recon_model: SSATModel | None = None
        self.num_frames = int(dc["num_frames"])
        self.size = int(dc["input_size"][-1])
        self.clip_stride = int(dc.get("clip_stride") or 1)
        self.segment_step = dc.get("segment_step")
        self.threshold = float(dc.get("threshold", 0.5))
        self.class_names = list(dc.get("class_names") or ["real", "fake"])
        self.fake_index = self.class_names.index("fake") if "fake" in self.class_names else 1
        self.dataset = dc.get("dataset") or "unknown"
        self.model_name = str(((ckpt.get("config") or {}).get("model") or {}).get("name") or "")
        self.notes: list[str] = []
        if "threshold" not in dc:
            self.notes.append("the checkpoint has no validation threshold; using 0.5")
        if dc.get("faces"):
            self.faces = from_dict(FaceCropConfig, dc["faces"], prefix="faces.")
        else:
            self.faces = FaceCropConfig()
            self.notes.append("the checkpoint does not record how its training faces were cropped; "
                              "using the preprocessing defaults (margin 1.3, 224 px)")
        for note in self.notes:
            log.warning("%s: %s", name, note)
        self.mean = torch.tensor(dc["mean"], dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(dc["std"], dtype=torch.float32).view(3, 1, 1, 1)
        self.min_face_frames = self.options.min_face_frames or self.num_frames
        self._detector = None  # built on first use, reused across videos

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        options: PredictOptions | None = None) -> Predictor:
        path = Path(path)
        ckpt = read_checkpoint(path)
        name = path.name if path.is_file() else f"{path.name}/last.pt"
        return cls(ckpt, device=device, name=name, options=options)

    # ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the demo shows about the model: name, architecture, training data, threshold."""
        return {
            "checkpoint": self.name, "model": self._arch_name(), "mode": self.mode, "dataset": self.dataset,
            "threshold": self.threshold, "num_frames": self.num_frames, "input_size": self.size,
            "clip_stride": self.clip_stride, "face_margin": self.faces.margin, "face_size": self.faces.size,
            "reconstruction": self.has_decoder, "device": str(self.device), "notes": list(self.notes),
        }

    def _arch_name(self) -> str:
        spec = self.model.spec
        shape = f"ViT {spec.embed_dim}/{spec.depth}/{spec.num_heads}, {spec.num_frames}×{spec.img_size}²"
        return f"{self.model_name} ({shape})" if self.model_name else shape

    def _face_detector(self):
        if self._detector is None:
            from preprocessing.detection import FaceDetector

            self._detector = FaceDetector(self.faces.detector)
        return self._detector

    def _to_input(self, frames: np.ndarray) -> torch.Tensor:
        # (T, S, S, 3) uint8 → (3, T, size, size) float32, normalised (as SegmentDataset)
        frames = resize_clip(frames, self.size)
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)
        return x.sub_(self.mean).div_(self.std)

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, video_path: str | Path, progress: Progress | None = None) -> Prediction:
        """Score one video. Raises ``preprocessing.VideoDecodeError`` when it cannot be decoded."""
        from preprocessing import extract_tracks
        from preprocessing.video import check_video_file

        t0 = time.perf_counter()
        opts = self.options

        def report(frac: float, what: str) -> None:
            if progress is not None:
                progress(min(max(frac, 0.0), 1.0), what)

        report(0.0, "reading video")
        check_video_file(video_path)
        vf = extract_tracks(video_path, self.faces, progress=lambda f, d: report(_FACE_SHARE * f, d),
                            detector=self._face_detector())
        timings = {k: float(v) for k, v in vf.timings.items() if k != "total"}
        notes = list(self.notes)
        if vf.frames_read < vf.num_frames and self.faces.max_frames is not None:
            notes.append(f"only the first {vf.frames_read} of {vf.num_frames} frames were read "
                         f"(faces.max_frames = {self.faces.max_frames} of the training data)")

        # --- segments of every usable track, exactly as SegmentDataset cuts them
        t = time.perf_counter()
        tracks: list[TrackScore] = []
        jobs: list[tuple[int, np.ndarray]] = []  # (track, clip-frame positions)
        for k, tr in enumerate(vf.tracks):
            n = len(tr.frame_indices)
            row = {"video_id": str(video_path), "fps": vf.fps, "frame_indices": tr.frame_indices}
            start_s, end_s = segment_times(row, np.arange(n))
            ts = TrackScore(index=k, score=None, segments=0, segments_total=0, face_frames=n, start_s=start_s,
                            end_s=end_s, face_size=tr.face_size, det_score=tr.det_score)
            tracks.append(ts)
            if n < self.min_face_frames:
                ts.skipped = f"face in only {n} frames (needs {self.min_face_frames})"
                continue
            starts = segment_starts(n, self.num_frames, self.clip_stride, self.segment_step)
            ts.segments_total = len(starts)
            if opts.max_segments_per_track is not None and len(starts) > opts.max_segments_per_track:
                starts = [starts[i] for i in _pick_evenly(len(starts), opts.max_segments_per_track)]
                notes.append(f"track {k}: scored {len(starts)} of its {ts.segments_total} segments, spread evenly "
                             f"over the whole track (max_segments_per_track = {opts.max_segments_per_track})")
            ts.segments = len(starts)
            jobs.extend((k, clip_indices(n, self.num_frames, self.clip_stride, s)) for s in starts)
        timings["prepare"] = time.perf_counter() - t

        # --- batched forward, classifier only
        timings["model"] = 0.0
        probs: list[float] = []
        for b in range(0, len(jobs), opts.batch_size):
            batch = jobs[b : b + opts.batch_size]
            t = time.perf_counter()
            x = torch.stack([self._to_input(vf.tracks[k].crops[idx]) for k, idx in batch]).to(self.device)
            timings["prepare"] += time.perf_counter() - t
            t = time.perf_counter()
            with self._autocast():
                logits = self.model(x)["logits"].float()
            probs.extend(logits.softmax(1)[:, self.fake_index].cpu().tolist())
            timings["model"] += time.perf_counter() - t
            report(_FACE_SHARE + (1 - _FACE_SHARE) * (b + len(batch)) / len(jobs), "scoring segments")

        segments = []
        for (k, idx), p in zip(jobs, probs, strict=True):
            src = vf.tracks[k].frame_indices
            row = {"video_id": str(video_path), "fps": vf.fps, "frame_indices": src}
            s0, s1 = segment_times(row, idx)
            segments.append(SegmentScore(track=k, start_s=s0, end_s=s1, first_frame=int(src[idx.min()]),
                                         last_frame=int(src[idx.max()]), fake_prob=float(p)))

        # --- aggregation: mean per track, max over tracks (the evaluation's own helpers)
        per_track = track_scores(probs, [k for k, _ in jobs])
        for k, (score, _) in per_track.items():
            tracks[k].score = score
        verdict: Verdict
        video = video_scores(per_track, [str(video_path)] * len(tracks)).get(str(video_path))
        if video is None:
            verdict, score, worst = "inconclusive", None, None
            if not vf.tracks:
                reason = "no face found"
            else:
                longest = max(len(tr.frame_indices) for tr in vf.tracks)
                reason = (f"too few frames with a face: the longest face track has {longest} frames, "
                          f"scoring needs {self.min_face_frames}")
        else:
            score, worst, reason = float(video["score"]), int(video["worst_track"]), None
            verdict = "fake" if score >= self.threshold else "real"

        # --- what the display needs: crops per track, one clip for the reconstruction view
        for ts in tracks:
            crops = vf.tracks[ts.index].crops
            mine = [idx for k, idx in jobs if k == ts.index]
            if mine:
                mids = [int(idx[len(idx) // 2]) for idx in mine]
                pick = [mids[i] for i in _pick_evenly(len(mids), opts.crops_per_track)]
            else:
                pick = list(_pick_evenly(len(crops), opts.crops_per_track))
            ts.crops = crops[pick].copy() if opts.crops_per_track else None
        clip = None
        if worst is not None:
            mine = [(p, idx) for (k, idx), p in zip(jobs, probs, strict=True) if k == worst]
            idx = max(mine, key=lambda m: m[0])[1]
            clip = resize_clip(vf.tracks[worst].crops[idx], self.size)

        timings["total"] = time.perf_counter() - t0
        counts = {
            "video_frames": vf.num_frames, "frames_read": vf.frames_read,
            "face_frames": int(sum(len(tr.frame_indices) for tr in vf.tracks)),
            "tracks": len(vf.tracks), "tracks_scored": len(per_track), "segments": len(jobs),
            "segments_total": int(sum(ts.segments_total for ts in tracks)),
        }
        log.info("%s: %s (score %s, %d tracks, %d segments) in %.1fs", Path(video_path).name, verdict,
                 "n/a" if score is None else f"{score:.3f}", counts["tracks"], counts["segments"], timings["total"])
        report(1.0, "done")
        return Prediction(
            path=str(video_path), verdict=verdict, score=score, threshold=self.threshold, reason=reason,
            fake_track=worst, tracks=tracks, segments=segments, counts=counts, timings=timings, notes=notes,
            fps=vf.fps, duration_s=vf.num_frames / vf.fps if vf.fps else 0.0, width=vf.width, height=vf.height,
            clip=clip,
        )

    def _autocast(self):
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return torch.autocast("cpu", enabled=False)

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruction(self, prediction: Prediction, seed: int = 0) -> Reconstruction:
        """Mask the prediction's clip with a training-style mask and run the SSAT decoder on it.

        The decoder predicts each hidden tubelet normalised per channel (VideoMAE's target); the
        prediction is brought back to pixels with the true tubelet's own mean and std, so the
        picture shows structure the decoder got right, not the brightness it was given.
        """
        if not self.has_decoder:
            raise ValueError(f"{self.name} has no decoder (trained with mode={self.mode}); the reconstruction view "
                             "needs a checkpoint trained with mode=ssat or pretrain")
        if prediction.clip is None:
            raise ValueError("this video has no scored clip to reconstruct (no usable face)")
        if self._recon_model is None:
            assert self._ckpt is not None
            self._recon_model = model_from_checkpoint(self._ckpt, with_decoder=True).to(self.device).eval()
        model = self._recon_model
        enc = model.encoder
        x = self._to_input(prediction.clip)[None].to(self.device)  # (1, 3, T, H, W)
        g = torch.Generator(device=self.device).manual_seed(seed)
        mask = model.sample_mask(1, generator=g)
        pred, target, ids = model.reconstruct(x, mask)  # (1, M, P), (1, L, P), (1, M)
        raw = enc.patchify(model.unnormalize(x)).float()  # (1, L, N, C) pixels in [0, 1]
        n_pix, chans = raw.shape[2], raw.shape[3]
        mean = raw.mean(dim=-2, keepdim=True)
        std = raw.var(dim=-2, keepdim=True).sqrt()  # unbiased, as losses.reconstruction_target
        idx = ids[0]
        pred_px = pred.float().view(1, -1, n_pix, chans) * (std[:, idx] + 1e-6) + mean[:, idx]
        recon = raw.clone()
        recon[:, idx] = pred_px
        masked = raw.clone()
        masked[:, idx] = 0.5
        err_tok = ((pred.float() - target[:, idx].float()) ** 2).mean(-1)[0]  # (M,)
        grid = tuple(enc.grid)  # (T', h, w)
        error = torch.full((int(np.prod(grid)),), float("nan"))
        error[idx.cpu()] = err_tok.cpu()

        def unpatchify(p: torch.Tensor) -> np.ndarray:
            from einops import rearrange

            spec = model.spec
            v = rearrange(p, "b (t h w) (p0 p1 p2) c -> b t p0 h p1 w p2 c", t=grid[0], h=grid[1], w=grid[2],
                          p0=spec.tubelet, p1=spec.patch_size, p2=spec.patch_size)
            v = v.reshape(1, grid[0] * spec.tubelet, grid[1] * spec.patch_size, grid[2] * spec.patch_size, chans)
            return (v[0].clamp(0, 1) * 255).round().byte().cpu().numpy()

        return Reconstruction(
            original=unpatchify(raw), masked=unpatchify(masked), reconstruction=unpatchify(recon),
            error=error.view(grid).numpy(), mask_ratio=model.mask_ratio, mean_error=float(err_tok.mean()),
        )


# ---------------------------------------------------------------------------------------------
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
