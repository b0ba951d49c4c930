"""Dataset families the engine can train on, behind one written contract (``Task``).

A task builds its splits, collates batches, evaluates a model and says what a checkpoint must carry
about its data; the engine, ``train`` and ``evaluate_checkpoint`` use nothing else of it, so images
and video share them. The decision threshold of real/fake video is an explicit value: evaluation
without one chooses it on the data it is given (validation) and returns it in ``Evaluation``; the
engine stores it in the checkpoint; test evaluation and inference pass it back in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .card import image_card, video_card
from .config import Config
from .data.images import DATASETS as IMAGE_DATASETS
from .data.images import build_image_datasets, collate_images, normalisation
from .data.sampler import EpochSampler
from .metrics import binary_metrics, threshold_for_best_accuracy, track_scores, video_scores
from .models import SSATModel
from .runtime import Runtime

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class Evaluation:
    """Metrics of one evaluation and the decision threshold they used (None: argmax, images)."""

    metrics: dict[str, float]
    threshold: float | None = None


@runtime_checkable
class Task(Protocol):
    """Everything the engine, ``train`` and ``evaluate_checkpoint`` use of a dataset family."""

    kind: Literal["image", "video"]
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]  # input normalisation the model is built with
    std: tuple[float, ...]
    # The training sets; None for video built for evaluation only (``build_task(training=False)``).
    train_set: Dataset | None
    val_set: Dataset | None  # selects the `best` checkpoint (and, for video, the decision threshold)
    test_set: Dataset | None  # evaluated at the end of training; None when the data has no test split
    sample_weights: torch.Tensor | None  # per training item, for a weighted sampler; None = uniform

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]: ...

    def class_weights(self, real_weight: float | str | None) -> list[float] | None:
        """The class weights of ``train.real_weight`` (video); ValueError where it does not apply."""

    def split_set(self, split: str, methods: list[str] | None = None) -> Dataset:
        """The evaluation dataset of a whole split (video: of these methods only)."""

    def evaluate(self, model: SSATModel, dataset: Dataset, runtime: Runtime, batch_size: int, num_workers: int,
                 threshold: float | None = None) -> Evaluation:
        """Metrics on ``dataset``. Without ``threshold``, video chooses it on this data and returns it."""

    def report(self, model: SSATModel, split: str, runtime: Runtime, batch_size: int, num_workers: int,
               threshold: float | None, methods: list[str] | None = None,
               out_dir: Path | None = None) -> dict[str, Any]:
        """``{"overall": metrics, ...}`` of a whole split (video: per method, unscored videos; files)."""

    def check_checkpoint(self, data_config: dict[str, Any]) -> None:
        """Refuse data a checkpoint's model cannot read the way it was trained (ValueError)."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """What inference needs to know about this data, stored in every checkpoint's data config."""


# --------------------------------------------------------------------------------------------- images
class ImageTask:
    """Image classification (the paper's image experiments)."""

    kind: Literal["image"] = "image"

    def __init__(self, cfg: Config, img_size: int):
        splits = build_image_datasets(cfg.data, img_size)
        self.train_set, self.val_set, self.test_set = splits.train, splits.val, splits.test
        self.num_classes = splits.num_classes
        self.class_names = splits.class_names
        self.mean, self.std = normalisation(cfg.data)
        self.sample_weights = None
        self.dataset = cfg.data.dataset

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        return collate_images(batch)

    def class_weights(self, real_weight: float | str | None) -> list[float] | None:
        if real_weight is not None:
            raise ValueError("train.real_weight applies to real/fake video datasets; use train.class_weights")
        return None

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "class_names": self.class_names,
                "card": image_card(self.dataset, {"train": len(self.train_set), "val": len(self.val_set)},
                                   self.num_classes)}

    def check_checkpoint(self, data_config: dict[str, Any]) -> None:
        return None  # the class count is checked for every task by evaluate_checkpoint

    @torch.no_grad()
    def evaluate(self, model: SSATModel, dataset: Dataset, runtime: Runtime, batch_size: int, num_workers: int,
                 threshold: float | None = None) -> Evaluation:
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
        return Evaluation(metrics)

    def split_set(self, split: str, methods: list[str] | None = None) -> Dataset:
        if methods:
            raise ValueError("--methods selects manipulation methods of a video dataset; this is an image dataset")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]

    def report(self, model: SSATModel, split: str, runtime: Runtime, batch_size: int, num_workers: int,
               threshold: float | None, methods: list[str] | None = None,
               out_dir: Path | None = None) -> dict[str, Any]:
        dataset = self.split_set(split, methods)
        return {"overall": self.evaluate(model, dataset, runtime, batch_size, num_workers).metrics}


# --------------------------------------------------------------------------------------------- video
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

    kind: Literal["video"] = "video"

    def __init__(self, cfg: Config, spec_num_frames: int, img_size: int, mean, std, training: bool = True):
        from preprocessing.manifest import read_settings

        self.cfg = cfg
        rows, path = load_video_manifest(cfg)
        self.root = path.parent
        self.rows = rows
        self.mean, self.std = tuple(mean), tuple(std)
        self.num_classes = 2
        self.class_names = ["real", "fake"]
        self.num_frames = spec_num_frames
        self.img_size = img_size
        # How preprocessing cropped and stored the faces, so inference crops and stores them alike.
        self.settings = read_settings(self.root) or {}
        self.train_set = self.val_set = self.test_set = None
        self.sample_weights = None
        if training:
            self._build_training_sets(path)
        # Evaluation builds only the split it scores (``split_set``): a folder of test videos evaluates
        # zero-shot, and what training derived (threshold, class weights) comes from the checkpoint.

    def _build_training_sets(self, path: Path) -> None:
        from .data.augment import build_clip_augment
        from .data.video import ClipDataset, select_tracks

        d, rows = self.cfg.data, self.rows
        excluded = set(d.exclude_identities or ())
        pool = [r for r in rows if r["identity"] not in excluded]  # for training and validation only
        train_rows = select_tracks(pool, "train", d.methods)
        self.train_set = ClipDataset(train_rows, augment=build_clip_augment(d.augment, self.img_size),
                                     pseudo_fakes=d.pseudo_fakes, **self._common())
        try:
            val_rows = select_tracks(pool, "val", d.methods)
        except ValueError as e:
            raise DataMismatchError(f"{e}. Checkpoints are chosen on validation videos: preprocess again into a new "
                                    "--out with a larger --val-fraction (or give a split column in the folder CSV)"
                                    ) from None
        self.val_set = self._segments(val_rows, pseudo_fakes=d.pseudo_fakes)
        self._check_clip_size(train_rows[0])  # after the datasets checked that every clip file exists
        # Test reals and fakes of every method (cross-manipulation tests a held-out method here).
        self.test_set = (self._segments(select_tracks(rows, "test", None))
                         if any(r["split"] == "test" and r["status"] == "ok" for r in rows) else None)
        labels = np.asarray(self.train_set.labels)  # pseudo-fakes included
        n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
        if n_real == 0 or n_fake == 0:
            log.warning("training split has %d real and %d fake tracks: the classifier cannot learn both", n_real,
                        n_fake)
        if d.balanced_sampler and n_real and n_fake:
            self.sample_weights = torch.tensor(np.where(labels == 0, 0.5 / n_real, 0.5 / n_fake))
        log.info("video data %s: %d train tracks (%d real / %d fake), %d val tracks, %d val segments", path,
                 len(train_rows), n_real, n_fake, len(self.val_set.rows), len(self.val_set))

    def _common(self) -> dict[str, Any]:
        return dict(root=self.root, num_frames=self.num_frames, stride=self.cfg.data.clip_stride, size=self.img_size,
                    mean=self.mean, std=self.std, lowpass_sigma=self.cfg.data.lowpass_sigma)

    def _segments(self, rows: list[dict], pseudo_fakes=None):
        from .data.video import SegmentDataset

        return SegmentDataset(rows, segment_step=self.cfg.data.segment_step, pseudo_fakes=pseudo_fakes,
                              **self._common())

    def _check_clip_size(self, row: dict) -> None:
        from preprocessing.clips import read_clip

        clip = read_clip(self.root / row["clip"], [0])
        if clip.shape[1] < self.img_size * 0.5:
            raise DataMismatchError(
                f"stored face crops are {clip.shape[1]}px but the model takes {self.img_size}px: "
                "preprocess with a larger --size or use a model with a smaller img_size")

    def class_weights(self, real_weight: float | str | None) -> list[float] | None:
        if real_weight is None:
            return None
        if real_weight == "auto":
            labels = np.asarray(self.train_set.labels)
            n_real, n_fake = max(int((labels == 0).sum()), 1), int((labels == 1).sum())
            w = n_fake / n_real
            log.info("real-class weight w = %.3f (%d fake / %d real training tracks)", w, n_fake, n_real)
            return [w, 1.0]
        return [float(real_weight), 1.0]

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        from .data.video import collate_clips

        return collate_clips(batch)

    def checkpoint_extras(self) -> dict[str, Any]:
        pf = self.cfg.data.pseudo_fakes
        return {"dataset": self.cfg.data.dataset, "class_names": self.class_names,
                "clip_stride": self.cfg.data.clip_stride, "segment_step": self.cfg.data.segment_step,
                "lowpass_sigma": self.cfg.data.lowpass_sigma,
                "faces": self.settings.get("faces"), "clip": self.settings.get("clip"),
                "card": video_card(self.cfg.data.dataset, {"train": self.train_set.rows, "val": self.val_set.rows},
                                   generator=(self.settings.get("source") or {}).get("generator"),
                                   pseudo_fakes=({"kind": pf.kind, "share": pf.share} if pf.kind != "none" else None))}

    def check_checkpoint(self, data_config: dict[str, Any]) -> None:
        """Refuse data whose face crops were made differently from the checkpoint's training data."""
        trained, current = data_config.get("faces"), self.settings.get("faces")
        if not trained or not current:
            return
        for key in ("margin", "size"):
            if trained.get(key) != current.get(key):
                raise DataMismatchError(
                    f"the checkpoint was trained on face crops with {key} {trained.get(key)}, but this data has "
                    f"{current.get(key)}: preprocess it again with --{key} {trained.get(key)}")

    def split_set(self, split: Any, methods: list[str] | None = None):
        """Segments of a split, or of a per-method selection (``data.video.Selection``)."""
        from .data.video import select_tracks

        if isinstance(split, str) and split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        rows = select_tracks(self.rows, split, methods)
        segments = self._segments(rows)  # names any missing clip file first
        self._check_clip_size(rows[0])
        return segments

    def predict(self, model: SSATModel, dataset, runtime: Runtime, batch_size: int, num_workers: int) -> dict:
        """Fake probability of every segment → per-track mean → per-video max."""
        from .evaluation import score_segments

        probs, tracks = score_segments(model, dataset, runtime, batch_size, num_workers)
        videos = video_scores(track_scores(probs, tracks), [r["video_id"] for r in dataset.rows])
        row_of = {r["video_id"]: r for r in dataset.rows}
        for vid, v in videos.items():
            row = row_of[vid]
            v.update(label=row["label"], method=row["method"], split=row["split"], original=row["original"])
        return videos

    def evaluate(self, model: SSATModel, dataset, runtime: Runtime, batch_size: int, num_workers: int,
                 threshold: float | None = None) -> Evaluation:
        videos = self.predict(model, dataset, runtime, batch_size, num_workers)
        y = np.asarray([v["label"] for v in videos.values()])
        s = np.asarray([v["score"] for v in videos.values()])
        if threshold is None:  # chosen here on validation; it travels with the checkpoint
            threshold = threshold_for_best_accuracy(y, s)
        return Evaluation(binary_metrics(y, s, threshold), threshold)

    def report(self, model: SSATModel, split: str, runtime: Runtime, batch_size: int, num_workers: int,
               threshold: float | None, methods: list[str] | None = None,
               out_dir: Path | None = None) -> dict[str, Any]:
        from .data.video import unusable_videos
        from .evaluation import video_report, write_report

        threshold = 0.5 if threshold is None else threshold
        videos = self.predict(model, self.split_set(split, methods), runtime, batch_size, num_workers)
        unscored = unusable_videos(self.rows, split, methods)
        report = video_report(videos, unscored, threshold)
        if out_dir is not None and runtime.is_main:
            write_report(Path(out_dir), report, videos, unscored)
        return report


def is_image_dataset(name: str) -> bool:
    return name in IMAGE_DATASETS


def build_task(cfg: Config, spec, training: bool = True) -> Task:
    """The task for ``cfg.data.dataset``; ``spec`` is the model's ArchSpec (input size, frames, stats).

    ``training=False`` (evaluation of a checkpoint): video builds no train or val set, so data with only
    the split being scored will do; image datasets come with all their splits and build them as before.
    """
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
        return VideoTask(cfg, spec.num_frames, spec.img_size, mean, std, training=training)
    raise ValueError(f"unknown dataset {name!r}; image datasets: {', '.join(sorted(IMAGE_DATASETS))}; "
                     f"video datasets: {', '.join(VIDEO_DATASETS)}")
