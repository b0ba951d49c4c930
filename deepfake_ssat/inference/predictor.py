"""``Predictor``: one checkpoint scoring video files, through evaluation's own path.

Faces come from ``preprocessing.extract_tracks`` with the face-crop settings recorded in the
checkpoint, and pass through the clip store's JPEG settings (``as_stored``) as the training faces
did. Each track becomes a row of an in-memory ``SegmentDataset`` (the evaluation dataset: same
segments, same resize and normalisation), scored by ``evaluation.score_segments`` (the evaluation
loop) on a ``Runtime`` (the training/evaluation device and precision rules), aggregated by
``metrics.track_scores`` / ``video_scores``. So ``predict`` and ``eval`` give one video one score.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..card import CAVEAT, card_summary
from ..checkpoint import checkpoint_model_config, model_from_checkpoint, read_checkpoint, run_test_metrics
from ..data.augment import resize_clip
from ..data.video import SegmentDataset, clip_to_tensor, pick_evenly, segment_times
from ..evaluation import score_segments
from ..losses import target_to_pixels
from ..metrics import track_scores, video_scores
from ..models import SSATModel
from ..runtime import local_runtime
from ..tables import plural
from .results import Prediction, PredictOptions, Progress, Reconstruction, SegmentScore, TrackScore, Verdict

if TYPE_CHECKING:
    from preprocessing import VideoFaces
    from preprocessing.config import ClipConfig, FaceCropConfig
    from preprocessing.detection import FaceDetector

log = logging.getLogger(__name__)

# Share of the progress bar spent on faces (decode + detect + crop); the rest is the model.
_FACE_SHARE = 0.75


def video_faces(video_path: str | Path, faces: FaceCropConfig, clip: ClipConfig, detector: FaceDetector | None = None,
                progress: Progress | None = None) -> VideoFaces:
    """The face tracks of one video under the face-crop settings of a checkpoint, the crops kept as its clip
    store keeps them (JPEG), so memory holds ~15 KB a crop and scoring sees what training read from disk."""
    from preprocessing import extract_tracks
    from preprocessing.video import check_video_file

    check_video_file(video_path)
    return extract_tracks(video_path, faces, progress=progress, detector=detector, clip=clip)


class Predictor:
    """Scores videos with one checkpoint. Build with ``Predictor.from_checkpoint(path)``."""

    def __init__(self, ckpt: dict[str, Any], device: str | torch.device = "auto", name: str = "checkpoint",
                 options: PredictOptions | None = None, test: dict[str, float] | None = None):
        from preprocessing.config import ClipConfig, FaceCropConfig, current_face_settings

        from ..configschema import from_dict

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
        self.runtime = local_runtime(str(device), "fp32" if self.options.int8 else self.options.precision)
        self.device = self.runtime.device
        self.model: SSATModel = model_from_checkpoint(ckpt, with_decoder=False).to(self.device).eval()
        if self.options.int8:
            from ..models.quantize import int8_dynamic

            self.model = int8_dynamic(self.model)
        self._ckpt = ckpt if self.has_decoder else None  # kept only for the lazily built reconstruction model
        self._recon_model: SSATModel | None = None
        self.num_frames = int(dc["num_frames"])
        self.size = int(dc["input_size"][-1])
        self.clip_stride = int(dc.get("clip_stride") or 1)
        self.segment_step = dc.get("segment_step")
        self.lowpass_sigma = float(dc.get("lowpass_sigma") or 0.0)
        self.card = dc.get("card")
        # How good it is, as measured when it was trained: its validation epoch, and the run's test split.
        self.validation = dict(ckpt.get("metrics") or {})
        self.test = dict(test or ckpt.get("test") or {})  # a detector folder carries its run's test metrics
        self.threshold = float(dc.get("threshold", 0.5))
        self.class_names = list(dc.get("class_names") or ["real", "fake"])
        self.fake_index = self.class_names.index("fake") if "fake" in self.class_names else 1
        self.dataset = dc.get("dataset") or "unknown"
        self.model_name = checkpoint_model_config(ckpt).name
        self.notes: list[str] = []
        if "threshold" not in dc:
            self.notes.append("the checkpoint has no validation threshold; using 0.5")
        if dc.get("faces"):
            self.faces = from_dict(FaceCropConfig, current_face_settings(dc["faces"]), prefix="faces.")
        else:
            self.faces = FaceCropConfig()
            self.notes.append("the checkpoint does not record how its training faces were cropped; "
                              "using the preprocessing defaults (margin 1.3, 224 px)")
        # Checkpoints from before the clip settings were recorded: the store's defaults, which they used.
        self.clip = from_dict(ClipConfig, dc["clip"], prefix="clip.") if dc.get("clip") else ClipConfig()
        for note in self.notes:
            log.warning("%s: %s", name, note)
        self.mean, self.std = tuple(dc["mean"]), tuple(dc["std"])
        self.min_face_frames = self.options.min_face_frames or self.num_frames
        self._detector = None  # built on first use, reused across videos

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        options: PredictOptions | None = None) -> Predictor:
        ckpt = read_checkpoint(path)
        path = Path(path)
        if ckpt.get("detector_folder"):
            return cls(ckpt, device=device, name=path.name, options=options)
        name = path.name if path.is_file() else f"{path.name}/last.pt"
        return cls(ckpt, device=device, name=name, options=options, test=run_test_metrics(path))

    # ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the demo shows about the model: name, architecture, training data, threshold."""
        return {
            "checkpoint": self.name, "model": self._arch_name(), "mode": self.mode, "dataset": self.dataset,
            "threshold": self.threshold, "num_frames": self.num_frames, "input_size": self.size,
            "clip_stride": self.clip_stride, "face_margin": self.faces.margin, "face_size": self.faces.size,
            "reconstruction": self.has_decoder, "device": str(self.device), "notes": list(self.notes),
            "int8": self.options.int8, "precision": "int8" if self.options.int8 else self.runtime.precision_name,
            "card": self.card, "trained_on": card_summary(self.card), "caveat": CAVEAT,
            "validation": self.validation, "test": self.test, "quality": self._quality(),
        }

    def _arch_name(self) -> str:
        spec = self.model.spec
        params = sum(p.numel() for p in self.model.parameters()) / 1e6
        shape = (f"a video ViT of width {spec.embed_dim}, {spec.depth} blocks, {spec.num_heads} heads "
                 f"({params:.1f} M parameters) on {spec.num_frames} frames of {spec.img_size}²")
        return f"{self.model_name}: {shape}" if self.model_name else shape

    def _quality(self) -> str:
        """How well it did when trained, in words: validation at its epoch, and the test split of its run."""
        def part(what: str, m: dict[str, Any]) -> str | None:
            if "n" not in m:
                return None
            auc = f"AUC {m['auc']:.3f}, " if m.get("auc") == m.get("auc") and "auc" in m else ""
            acc = m.get("acc_at_threshold", m.get("acc"))
            return f"{what} on {int(m['n'])} videos: {auc}accuracy {100 * acc:.1f} %" if acc is not None else None

        parts = [p for p in (part("validation", self.validation), part("test", self.test)) if p]
        return "; ".join(parts) if parts else "no validation or test figures recorded with this checkpoint"

    def _face_detector(self):
        if self._detector is None:
            from preprocessing.detection import FaceDetector

            self._detector = FaceDetector(self.faces.detector)
        return self._detector

    def _segments(self, rows: list[dict], frames: list[np.ndarray]) -> SegmentDataset:
        return SegmentDataset(rows, None, self.num_frames, self.clip_stride, self.size, self.mean, self.std,
                              segment_step=self.segment_step, frames=frames,
                              max_segments_per_track=self.options.max_segments_per_track,
                              lowpass_sigma=self.lowpass_sigma)

    # ------------------------------------------------------------------------------------------
    def find_faces(self, video_path: str | Path, progress: Progress | None = None) -> VideoFaces:
        """Decode, detect, track and crop one video as the training faces were (the part ``predict --workers``
        runs in worker processes). Raises ``preprocessing.VideoDecodeError`` when it cannot be decoded."""
        return video_faces(video_path, self.faces, self.clip, detector=self._face_detector(), progress=progress)

    @torch.no_grad()
    def predict(self, video_path: str | Path, progress: Progress | None = None) -> Prediction:
        """Score one video. Raises ``preprocessing.VideoDecodeError`` when it cannot be decoded."""
        t0 = time.perf_counter()
        if progress is not None:
            progress(0.0, "reading video")
        vf = self.find_faces(video_path, progress=None if progress is None else
                             lambda f, d: progress(_FACE_SHARE * min(max(f, 0.0), 1.0), d))
        return self.score(video_path, vf, progress=progress, started=t0)

    @torch.no_grad()
    def score(self, video_path: str | Path, vf: VideoFaces, progress: Progress | None = None,
              started: float | None = None) -> Prediction:
        """Score the faces ``find_faces`` found in ``video_path``. ``started``: when work on the video began
        (for its total time); without it, the face time recorded in ``vf`` counts."""
        from preprocessing.clips import as_stored

        t0 = time.perf_counter()
        before = 0.0 if started is not None else float(vf.timings.get("total", 0.0))
        started = t0 if started is None else started
        opts = self.options
        vid = str(video_path)

        def report(frac: float, what: str) -> None:
            if progress is not None:
                progress(min(max(frac, 0.0), 1.0), what)

        timings = {k: float(v) for k, v in vf.timings.items() if k != "total"}
        notes = list(self.notes)
        if vf.frames_read < vf.num_frames and self.faces.max_frames is not None:
            notes.append(f"only the first {vf.frames_read} of {vf.num_frames} frames were read "
                         f"(faces.max_frames = {self.faces.max_frames} of the training data)")

        # --- one evaluation row per usable track, its crops as the clip store returns them
        t = time.perf_counter()
        tracks: list[TrackScore] = []
        rows: list[dict] = []
        stored: list = []  # per track: its crops as the clip store reads them back (JpegFrames or an array)
        for k, tr in enumerate(vf.tracks):
            n = len(tr.frame_indices)
            row = {"video_id": vid, "track": k, "num_frames": n, "fps": vf.fps, "status": "ok", "clip": None,
                   "label": 0, "frame_indices": [int(i) for i in tr.frame_indices]}
            start_s, end_s = segment_times(row, np.arange(n))
            ts = TrackScore(index=k, score=None, segments=0, segments_total=0, face_frames=n, start_s=start_s,
                            end_s=end_s, face_size=tr.face_size, det_score=tr.det_score)
            tracks.append(ts)
            if n < self.min_face_frames:
                ts.skipped = f"face in only {n} frames (needs {self.min_face_frames})"
                continue
            rows.append(row)
            stored.append(as_stored(tr.crops, self.clip.quality, self.clip.subsampling))
        dataset = self._segments(rows, stored) if rows else None
        timings["prepare"] = time.perf_counter() - t

        # --- the evaluation loop, classifier only
        t = time.perf_counter()
        probs, seg_rows = [], []
        if dataset is not None:
            probs, seg_rows = score_segments(
                self.model, dataset, self.runtime, opts.batch_size, 0, self.fake_index,
                progress=lambda f: report(_FACE_SHARE + (1 - _FACE_SHARE) * f, "scoring segments"))
        timings["model"] = time.perf_counter() - t

        track_of = [r["track"] for r in rows]  # dataset row → track number in the video
        segments: list[SegmentScore] = []
        jobs: list[tuple[int, np.ndarray]] = []  # (track, clip-frame positions) per scored segment
        for i, p in enumerate(probs):
            row = dataset.rows[seg_rows[i]]
            idx = dataset.segment_indices(i)
            s0, s1 = segment_times(row, idx)
            src = row["frame_indices"]
            segments.append(SegmentScore(track=row["track"], start_s=s0, end_s=s1, first_frame=int(src[idx.min()]),
                                         last_frame=int(src[idx.max()]), fake_prob=float(p)))
            jobs.append((row["track"], idx))
        for j, k in enumerate(track_of):
            ts = tracks[k]
            ts.segments_total = dataset.segments_total[j]
            ts.segments = sum(1 for s in segments if s.track == k)
            if ts.segments < ts.segments_total:
                notes.append(f"track {k}: scored {ts.segments} of its {ts.segments_total} segments, spread evenly "
                             f"over the whole track (max_segments_per_track = {opts.max_segments_per_track})")

        # --- aggregation: mean per track, max over tracks (the evaluation's own helpers)
        per_track = track_scores(probs, [s.track for s in segments])
        for k, (score, _) in per_track.items():
            tracks[k].score = score
        verdict: Verdict
        video = video_scores(per_track, [vid] * len(tracks)).get(vid)
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
            mids = [int(idx[len(idx) // 2]) for k, idx in jobs if k == ts.index]
            pick = ([mids[i] for i in pick_evenly(len(mids), opts.crops_per_track)] if mids
                    else list(pick_evenly(len(crops), opts.crops_per_track)))
            ts.crops = crops[pick].copy() if opts.crops_per_track else None
        clip = None
        if worst is not None:
            mine = [(s.fake_prob, idx) for s, (k, idx) in zip(segments, jobs, strict=True) if k == worst]
            idx = max(mine, key=lambda m: m[0])[1]
            clip = resize_clip(stored[track_of.index(worst)][idx], self.size)

        timings["total"] = before + time.perf_counter() - started
        counts = {
            "video_frames": vf.num_frames, "frames_read": vf.frames_read,
            "face_frames": int(sum(len(tr.frame_indices) for tr in vf.tracks)),
            "tracks": len(vf.tracks), "tracks_scored": len(per_track), "segments": len(segments),
            "segments_total": int(sum(ts.segments_total for ts in tracks)),
        }
        log.info("%s: %s (score %s, %s, %s) in %.1fs", Path(video_path).name, verdict,
                 "n/a" if score is None else f"{score:.3f}", plural(counts["tracks"], "face track"),
                 plural(counts["segments"], "segment"), timings["total"])
        report(1.0, "done")
        return Prediction(
            path=vid, verdict=verdict, score=score, threshold=self.threshold, reason=reason,
            fake_track=worst, tracks=tracks, segments=segments, counts=counts, timings=timings, notes=notes,
            fps=vf.fps, duration_s=vf.num_frames / vf.fps if vf.fps else 0.0, width=vf.width, height=vf.height,
            clip=clip,
        )

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruction(self, prediction: Prediction, seed: int = 0) -> Reconstruction:
        """Mask the prediction's clip with a training-style mask and run the SSAT decoder on it.

        Hidden tubelets are shown as the decoder predicts them, brought back to pixels by the inverse of
        the checkpoint's own reconstruction target (``losses.target_to_pixels``).
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
        shape = (3, 1, 1, 1)
        x = clip_to_tensor(prediction.clip, self.size, torch.tensor(self.mean).view(shape),
                           torch.tensor(self.std).view(shape), self.lowpass_sigma)[None].to(self.device)
        g = torch.Generator(device=self.device).manual_seed(seed)
        mask = model.sample_mask(1, generator=g)
        with self.runtime.autocast():
            pred, target, ids = model.reconstruct(x, mask)  # (1, M, P), (1, L, P), (1, M)
        raw = enc.patchify(model.unnormalize(x)).float()  # (1, L, N, C) pixels in [0, 1]
        idx = ids[0]
        recon = raw.clone()
        recon[:, idx] = target_to_pixels(pred, raw[:, idx], model.target_norm, self.mean, self.std)
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
            v = v.reshape(1, grid[0] * spec.tubelet, grid[1] * spec.patch_size, grid[2] * spec.patch_size, -1)
            return (v[0].clamp(0, 1) * 255).round().byte().cpu().numpy()

        return Reconstruction(
            original=unpatchify(raw), masked=unpatchify(masked), reconstruction=unpatchify(recon),
            error=error.view(grid).numpy(), mask_ratio=model.mask_ratio, mean_error=float(err_tok.mean()),
        )
