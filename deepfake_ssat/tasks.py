"""Dataset families the engine can train on. Each task builds its splits, collates batches and
validates a model; the engine stays the same for images and video."""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .config import Config
from .data.images import DATASETS as IMAGE_DATASETS
from .data.images import build_image_datasets, collate_images, normalisation
from .data.sampler import EpochSampler
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
                out = model(x)
                rec = (model(x, y, generator=gen)["loss_rec"] if model.uses_reconstruction
                       else torch.zeros((), device=runtime.device))
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


def is_image_dataset(name: str) -> bool:
    return name in IMAGE_DATASETS


def build_task(cfg: Config, img_size: int):
    name = cfg.data.dataset
    if is_image_dataset(name):
        return ImageTask(cfg, img_size)
    raise ValueError(f"unknown dataset {name!r}; image datasets: {', '.join(sorted(IMAGE_DATASETS))}")
