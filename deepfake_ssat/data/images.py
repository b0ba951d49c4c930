"""Image datasets for the paper's image experiments, with the Table 14 augmentation recipe.

CIFAR-10/100, SVHN and Flowers-102 come from torchvision (downloaded when ``data.download`` and
online); Fashion-MNIST is read straight from its four IDX ``.gz`` files (Debian's
``dataset-fashion-mnist`` installs them); PneumoniaMNIST through ``medmnist`` when installed; any
ImageFolder tree (``root/train/<class>/…`` and ``root/val/<class>/…``) covers ImageNet,
DomainNet and Chaoyang.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset
from torchvision import transforms as T

from ..config import DataConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageDatasetInfo:
    num_classes: int
    native_size: int | None  # side of the stored images when fixed (32 for CIFAR), else None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DATASETS: dict[str, ImageDatasetInfo] = {
    "cifar10": ImageDatasetInfo(10, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ImageDatasetInfo(100, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ImageDatasetInfo(10, 32, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "fashion_mnist": ImageDatasetInfo(10, 28, (0.2860,) * 3, (0.3530,) * 3),
    "pneumoniamnist": ImageDatasetInfo(2, 28, (0.5719,) * 3, (0.1684,) * 3),
    "flowers102": ImageDatasetInfo(102, None, *IMAGENET),
    "imagefolder": ImageDatasetInfo(0, None, *IMAGENET),  # classes counted from the tree
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that is neither on disk nor downloadable; the message says what to do."""


class FashionMNISTIdx(Dataset):
    """Fashion-MNIST from the four IDX ``.gz`` files of a folder (no torchvision folder layout needed)."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]

    FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

    def __init__(self, root: str | Path, split: str, transform: Callable | None = None):
        root = Path(root)
        img_file, lbl_file = (root / f for f in self.FILES[split])
        if not img_file.is_file() or not lbl_file.is_file():
            raise DatasetNotFoundError(
                f"Fashion-MNIST IDX files not found in {root} (need {img_file.name}, {lbl_file.name}); "
                "install them with `apt-get install dataset-fashion-mnist` (→ /usr/share/datasets/fashion-mnist) "
                "or set data.root to a folder holding them"
            )
        self.images = _read_idx(img_file)  # (N, 28, 28) uint8
        self.targets = _read_idx(lbl_file).astype(np.int64)
        if len(self.images) != len(self.targets):
            raise ValueError(f"{root}: {len(self.images)} images but {len(self.targets)} labels")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i], mode="L").convert("RGB")
        return (self.transform(img) if self.transform else img), int(self.targets[i])


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if (magic >> 8) != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class _RGB(Dataset):
    """Wraps a dataset whose images may be grayscale or palette so every sample is RGB."""

    def __init__(self, base: Dataset, transform: Callable | None):
        self.base, self.transform = base, transform
        self.targets = _targets(base)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        img, y = self.base[i]
        if isinstance(img, np.ndarray):
            img = Image.fromarray(img.squeeze())
        img = img.convert("RGB")
        return (self.transform(img) if self.transform else img), int(np.asarray(y).reshape(-1)[0])


def _targets(ds: Dataset) -> np.ndarray:
    for attr in ("targets", "labels", "_labels"):
        if hasattr(ds, attr):
            return np.asarray(getattr(ds, attr)).reshape(-1)
    if isinstance(ds, Subset):
        return _targets(ds.dataset)[np.asarray(ds.indices)]
    return np.asarray([ds[i][1] for i in range(len(ds))])  # type: ignore[arg-type]


def dataset_info(name: str) -> ImageDatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose from {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _torchvision(name: str, root: Path, split: str, download: bool) -> Dataset:
    from torchvision import datasets as tvd

    train = split == "train"
    try:
        if name == "cifar10":
            return tvd.CIFAR10(root, train=train, download=download)
        if name == "cifar100":
            return tvd.CIFAR100(root, train=train, download=download)
        if name == "svhn":
            return tvd.SVHN(root, split="train" if train else "test", download=download)
        if name == "flowers102":
            return tvd.Flowers102(root, split=split, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise DatasetNotFoundError(
            f"{name} not found under {root} ({e}); with internet set data.download=true, "
            f"or put the torchvision files there and set data.root"
        ) from None
    except OSError as e:  # download attempted offline
        raise DatasetNotFoundError(f"{name}: could not download into {root} ({e}); "
                                   "download it on a machine with internet and set data.root") from None
    raise ValueError(name)


def load_split(cfg: DataConfig, split: str, transform: Callable | None) -> Dataset:
    """``split`` is train / val / test. Datasets without a val split evaluate on test."""
    name, root = cfg.dataset, Path(cfg.root)
    dataset_info(name)
    if name == "fashion_mnist":
        return FashionMNISTIdx(root, "train" if split == "train" else "test", transform)
    if name == "pneumoniamnist":
        try:
            import medmnist
        except ImportError:
            raise DatasetNotFoundError(
                "pneumoniamnist needs the optional package medmnist: pip install medmnist") from None
        base = medmnist.PneumoniaMNIST(split=split, root=str(root), download=cfg.download)
        return _RGB(base, transform)
    if name == "imagefolder":
        from torchvision.datasets import ImageFolder

        sub = root / ("train" if split == "train" else "val")
        if split == "test" and (root / "test").is_dir():
            sub = root / "test"
        if not sub.is_dir():
            raise DatasetNotFoundError(f"ImageFolder split folder not found: {sub} (expected {root}/train/<class>/... "
                                       f"and {root}/val/<class>/...)")
        return _RGB(ImageFolder(sub), transform)
    return _RGB(_torchvision(name, root, split, cfg.download), transform)


def num_classes_of(cfg: DataConfig, dataset: Dataset) -> int:
    info = dataset_info(cfg.dataset)
    if info.num_classes:
        return info.num_classes
    base = dataset.base if isinstance(dataset, _RGB) else dataset
    return len(base.classes)  # type: ignore[attr-defined]


def normalisation(cfg: DataConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if cfg.mean is not None and cfg.std is not None:
        if len(cfg.mean) != 3 or len(cfg.std) != 3:
            raise ValueError("data.mean / data.std: images are fed as RGB, give 3 values each")
        return tuple(cfg.mean), tuple(cfg.std)
    info = dataset_info(cfg.dataset)
    return info.mean, info.std


def build_transforms(cfg: DataConfig, img_size: int) -> tuple[Callable, Callable]:
    """(train, eval) transforms. Train: RandomResizedCrop + flip + RandAugment + random erasing
    (timm). Eval: tensor + normalise, resizing only when the stored size differs from the model's."""
    from timm.data import create_transform

    mean, std = normalisation(cfg)
    train_tf = create_transform(
        input_size=img_size, is_training=True, scale=tuple(cfg.crop_scale), hflip=cfg.hflip,
        auto_augment=cfg.randaugment, re_prob=cfg.reprob, re_mode="pixel", interpolation="bicubic",
        mean=mean, std=std,
    )
    native = dataset_info(cfg.dataset).native_size
    steps: list[Callable] = []
    if native != img_size:
        if native is not None and native < img_size:
            log.warning("evaluation upscales %dpx images to %dpx", native, img_size)
        steps += [T.Resize(int(round(img_size / 0.875)), interpolation=T.InterpolationMode.BICUBIC),
                  T.CenterCrop(img_size)]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return train_tf, T.Compose(steps)


def _stratified_pick(targets: np.ndarray, fraction: float | None, per_class: int | None,
                     rng: np.random.Generator) -> np.ndarray:
    keep: list[int] = []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        n = per_class if per_class is not None else max(1, int(round(len(idx) * fraction)))  # type: ignore[operator]
        keep.extend(rng.permutation(idx)[: min(n, len(idx))].tolist())
    return np.sort(np.asarray(keep, dtype=np.int64))


@dataclass
class ImageSplits:
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    class_names: list[str]


def build_image_datasets(cfg: DataConfig, img_size: int) -> ImageSplits:
    """Train / val / test. Without an official validation split, ``val_fraction`` of the training
    images (stratified, fixed by ``subset_seed``) become the validation set; a limited-data subset
    (``train_fraction`` / ``train_per_class``) is then drawn, deterministically, from the rest."""
    train_tf, eval_tf = build_transforms(cfg, img_size)
    train = load_split(cfg, "train", train_tf)
    test = load_split(cfg, "test", eval_tf)
    n = num_classes_of(cfg, train)
    rng = np.random.default_rng(cfg.subset_seed)
    if cfg.dataset in ("flowers102", "pneumoniamnist", "imagefolder"):
        val = load_split(cfg, "val", eval_tf)
        pool = np.arange(len(train))  # type: ignore[arg-type]
    else:
        targets = _targets(train)
        val_idx = _stratified_pick(targets, cfg.val_fraction, None, rng)
        val = Subset(load_split(cfg, "train", eval_tf), val_idx.tolist())
        pool = np.setdiff1d(np.arange(len(targets)), val_idx)
    if cfg.train_fraction is not None or cfg.train_per_class is not None:
        sub = _stratified_pick(_targets(train)[pool], cfg.train_fraction, cfg.train_per_class, rng)
        log.info("limited training set: %d of %d images (seed %d)", len(sub), len(pool), cfg.subset_seed)
        pool = pool[sub]
    if len(pool) < len(train):  # type: ignore[arg-type]
        train = Subset(train, pool.tolist())
    base = train.dataset if isinstance(train, Subset) else train
    base = base.base if isinstance(base, _RGB) else base
    names = list(getattr(base, "classes", [])) or [str(i) for i in range(n)]
    return ImageSplits(train, val, test, n, names)


def collate_images(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([b[0] for b in batch])
    y = torch.tensor([b[1] for b in batch], dtype=torch.long)
    return x, y
