"""Dataset families the engine can train on. Each task builds its splits, collates batches and
validates a model; the engine stays the same for images and video."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .config import Config
from .data.images import DATASETS as IMAGE_DATASETS
from .data.images import build_image_datasets, collate_images, normalisation
from .data.sampler import EpochSampler
from .metrics import binary_metrics, threshold_for_best_accuracy, track_scores, video_scores
from .models import SSATModel
from .runtime import Runtime

log = logging.getLogger(__name__)


class ImageTask:
    """Image classification (the paper's image experiments)."""

    kind = "image"

    def __init__(self, cfg: Config, img_size: int):
        splits = build_image_datasets(cfg.data, img_size)
        self.train_set, self.val_set, self.test_set = splits.train, splits.val, splits.test
        self.num_classes = splits.num_classes
        self.class_names = splits.class_names
        self.mean, self.std = normalisation(cfg.data)
        self.dataset = cfg.data.dataset

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        return collate_images(batch)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "class_names": self.class_names}

    @torch.no_grad()
    def evaluate(self, model: SSATModel, dataset: Dataset, runtime: Runtime, batch_size: int,
                 num_workers: int) -> dict[str, float]:
        """Top-1 accuracy, cross-entropy and (with a decoder) reconstruction loss, summed over ranks."""
        model.eval()
        sampler = EpochSampler(len(dataset), runtime.rank, runtime.world_size, shuffle=False, pad=False)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                            collate_fn=self.collate)
        totals = torch.zeros(4, dtype=torch.float64, device=runtime.device)  # correct, ce, rec, n
        gen = torch.Generator(device=runtime.device).manual_seed(0)  # same masks every evaluation
        for x, y in tqdm(loader, desc="eval", leave=False, disable=not runtime.is_main or None):
            x, y = x.to(runtime.device), y.to(runtime.device)
            with runtime.autocast():
                # One call gives the logits and, with a decoder, the reconstruction loss.
                out = model(x, y, generator=gen) if model.uses_reconstruction else model(x)
                rec = out["loss_rec"] if model.uses_reconstruction else torch.zeros((), device=runtime.device)
            if "logits" in out:
                logits = out["logits"].float()
                totals[0] += (logits.argmax(1) == y).sum()
                totals[1] += F.cross_entropy(logits, y, reduction="sum")
            totals[2] += rec.double() * len(y)
            totals[3] += len(y)
        totals = runtime.reduce_sum(totals)
        n = max(totals[3].item(), 1.0)
        metrics = {"loss_rec": totals[2].item() / n} if model.uses_reconstruction else {}
        if model.uses_classifier:
            metrics.update(top1=100.0 * totals[0].item() / n, loss=totals[1].item() / n)
        return metrics


VIDEO_DATASETS = ("dfdc", "ffpp", "folder")


class DataMismatchError(ValueError):
    """Data that does not fit the model or the requested dataset."""


def manifest_path(cfg: Config) -> Path:
    return Path(cfg.data.manifest) if cfg.data.manifest else Path(cfg.data.root) / "manifest.jsonl"


def load_video_manifest(cfg: Config) -> tuple[list[dict], Path]:
    """The preprocessing manifest of ``cfg.data``, checked against the dataset name."""
    from preprocessing.manifest import read_manifest

    path = manifest_path(cfg)
    name = cfg.data.dataset
    if not path.is_file():
        raise FileNotFoundError(
            f"no preprocessed {name} data: {path} does not exist. Run first:\n"
            f"  deepfake-ssat preprocess --dataset {name} --root <raw {name} folder> --out {path.parent}\n"
            f"then train with --data-root {path.parent}"
        )
    rows = read_manifest(path)
    if not rows:
        raise DataMismatchError(f"{path} is empty: preprocessing produced no rows (see its log)")
    found = sorted({r["dataset"] for r in rows})
    if found != [name]:
        raise DataMismatchError(f"{path} holds {', '.join(found)} data, not {name}: point data.root at the "
                                f"output of `preprocess --dataset {name}`")
    return rows, path


class VideoTask:
    """Real/fake classification of face-track clips (DFDC, FF++, folders of videos)."""

    kind = "video"

    def __init__(self, cfg: Config, spec_num_frames: int, img_size: int, mean, std):
        from preprocessing.manifest import read_settings

        from .data.augment import build_clip_augment
        from .data.video import ClipDataset, SegmentDataset, select_tracks, unusable_videos

        self.cfg = cfg
        rows, path = load_video_manifest(cfg)
        self.root = path.parent
        self.rows = rows
        self.mean, self.std = tuple(mean), tuple(std)
        self.num_classes = 2
        self.class_names = ["real", "fake"]
        self.num_frames = spec_num_frames
        self.img_size = img_size
        d = cfg.data
        methods = d.methods
        train_rows = select_tracks(rows, "train", methods)
        val_rows = select_tracks(rows, "val", methods)
        common = dict(root=self.root, num_frames=spec_num_frames, stride=d.clip_stride, size=img_size,
                      mean=self.mean, std=self.std)
        self.train_set = ClipDataset(train_rows, augment=build_clip_augment(d.augment, img_size), **common)
        self.val_set = SegmentDataset(val_rows, segment_step=d.segment_step, **common)
        self._check_clip_size(train_rows[0])  # after the datasets checked that every clip file exists
        self._segment_dataset = lambda split_rows: SegmentDataset(split_rows, segment_step=d.segment_step, **common)
        self._select, self._unusable = select_tracks, unusable_videos
        # Test reals and fakes of every method (cross-manipulation tests a held-out method here).
        self.test_set = (self._segment_dataset(select_tracks(rows, "test", None))
                         if any(r["split"] == "test" and r["status"] == "ok" for r in rows) else None)
        labels = np.asarray(self.train_set.labels)
        n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
        if n_real == 0 or n_fake == 0:
            log.warning("training split has %d real and %d fake tracks: the classifier cannot learn both", n_real,
                        n_fake)
        self.sample_weights = None
        if d.balanced_sampler and n_real and n_fake:
            self.sample_weights = torch.tensor(np.where(labels == 0, 0.5 / n_real, 0.5 / n_fake))
        self.threshold = 0.5
        settings = read_settings(self.root) or {}
        self.faces = settings.get("faces")  # how preprocessing cropped them, so inference crops alike
        log.info("video data %s: %d train tracks (%d real / %d fake), %d val tracks, %d val segments", path,
                 len(train_rows), n_real, n_fake, len(val_rows), len(self.val_set))

    def _check_clip_size(self, row: dict) -> None:
        from preprocessing.clips import read_clip

        clip = read_clip(self.root / row["clip"], [0])
        if clip.shape[1] < self.img_size * 0.5:
            raise DataMismatchError(
                f"stored face crops are {clip.shape[1]}px but the model takes {self.img_size}px: "
                "preprocess with a larger --size or use a model with a smaller img_size")

    def class_weights(self, real_weight) -> list[float] | None:
        if real_weight is None:
            return None
        if real_weight == "auto":
            labels = np.asarray(self.train_set.labels)
            n_real, n_fake = max(int((labels == 0).sum()), 1), int((labels == 1).sum())
            w = n_fake / n_real
            log.info("real-class weight w = %.3f (%d fake / %d real training tracks)", w, n_fake, n_real)
            return [w, 1.0]
        return [float(real_weight), 1.0]

    def split_set(self, split: str, methods: list[str] | None = None):
        return self._segment_dataset(self._select(self.rows, split, methods))

    def unusable(self, split: str, methods: list[str] | None = None) -> list[dict]:
        """Videos of the split that gave no face track (reported apart, never scored 0.5)."""
        return self._unusable(self.rows, split, methods)

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        from .data.video import collate_clips

        return collate_clips(batch)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"dataset": self.cfg.data.dataset, "class_names": self.class_names, "threshold": self.threshold,
                "clip_stride": self.cfg.data.clip_stride, "segment_step": self.cfg.data.segment_step,
                "faces": self.faces}

    @torch.no_grad()
    def predict(self, model: SSATModel, dataset, runtime: Runtime, batch_size: int, num_workers: int) -> dict:
        """Fake probability of every segment → per-track mean → per-video max."""
        from .data.video import collate_segments

        model.eval()
        sampler = EpochSampler(len(dataset), runtime.rank, runtime.world_size, shuffle=False, pad=False)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                            collate_fn=collate_segments)
        probs, tracks = [], []
        for x, _, t in tqdm(loader, desc="segments", leave=False, disable=not runtime.is_main or None):
            with runtime.autocast():
                logits = model(x.to(runtime.device))["logits"].float()
            probs.extend(logits.softmax(1)[:, 1].cpu().tolist())
            tracks.extend(t.tolist())
        gathered = runtime.gather_objects((probs, tracks))
        probs = [p for g in gathered for p in g[0]]
        tracks = [t for g in gathered for t in g[1]]
        per_track = track_scores(probs, tracks)
        videos = video_scores(per_track, [r["video_id"] for r in dataset.rows])
        row_of = {r["video_id"]: r for r in dataset.rows}
        for vid, v in videos.items():
            row = row_of[vid]
            v.update(label=row["label"], method=row["method"], split=row["split"])
        return videos

    def evaluate(self, model: SSATModel, dataset, runtime: Runtime, batch_size: int,
                 num_workers: int) -> dict[str, float]:
        videos = self.predict(model, dataset, runtime, batch_size, num_workers)
        y = [v["label"] for v in videos.values()]
        s = [v["score"] for v in videos.values()]
        if dataset is self.val_set:
            # The decision threshold is chosen on validation only and travels with the checkpoint.
            self.threshold = threshold_for_best_accuracy(np.asarray(y), np.asarray(s))
        return binary_metrics(y, s, self.threshold)


def is_image_dataset(name: str) -> bool:
    return name in IMAGE_DATASETS


def build_task(cfg: Config, spec):
    """The task for ``cfg.data.dataset``; ``spec`` is the model's ArchSpec (input size, frames, stats)."""
    name = cfg.data.dataset
    if is_image_dataset(name):
        if spec.kind != "image":
            raise DataMismatchError(f"{cfg.model.name} is a video model; {name} is an image dataset")
        return ImageTask(cfg, spec.img_size)
    if name in VIDEO_DATASETS:
        if spec.kind != "video":
            raise DataMismatchError(f"{cfg.model.name} is an image model; {name} is a video dataset "
                                    "(use videomae_small / videomae_base)")
        mean = tuple(cfg.data.mean) if cfg.data.mean else spec.mean
        std = tuple(cfg.data.std) if cfg.data.std else spec.std
        return VideoTask(cfg, spec.num_frames, spec.img_size, mean, std)
    raise ValueError(f"unknown dataset {name!r}; image datasets: {', '.join(sorted(IMAGE_DATASETS))}; "
                     f"video datasets: {', '.join(VIDEO_DATASETS)}")
