"""Image datasets: ImageFolder trees, limited-data subsets, evaluation transforms."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from deepfake_ssat.config import load_config
from deepfake_ssat.data.images import build_image_datasets, build_transforms
from deepfake_ssat.train import train


def _image_folder(root: Path, per_class: int = 12, size: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
            d = root / split / f"class{c}"
            d.mkdir(parents=True)
            for i in range(per_class if split == "train" else 4):
                arr = (np.array(colour) * rng.uniform(0.6, 1.0) + rng.integers(0, 40, (size, size, 3))).clip(0, 255)
                Image.fromarray(arr.astype(np.uint8)).save(d / f"{i}.png")
    return root


def test_image_folder_trains_and_counts_classes(tmp_path):
    root = _image_folder(tmp_path / "tree")
    cfg = load_config(overrides=[
        "data.dataset=imagefolder", f"data.root={root}", "data.num_workers=0", "model.name=test_vit",
        "model.mode=ssat", "train.epochs=1", "train.batch_size=8", "train.device=cpu",
        f"train.output_dir={tmp_path / 'run'}", "train.warmup_epochs=0",
    ])
    summary = train(cfg)
    assert summary["steps"] == 4  # 36 training images // 8
    assert "top1" in summary["test_best"]


def test_limited_subset_is_stratified_and_identical_across_runs(tmp_path):
    root = _image_folder(tmp_path / "tree", per_class=20)
    cfg = load_config(overrides=["data.dataset=imagefolder", f"data.root={root}", "data.train_per_class=5"]).data
    a, b = build_image_datasets(cfg, 32), build_image_datasets(cfg, 32)
    assert a.train.indices == b.train.indices and len(a.train) == 15
    labels = [a.train.dataset.targets[i] for i in a.train.indices]
    assert sorted(np.bincount(labels).tolist()) == [5, 5, 5] and a.class_names == ["class0", "class1", "class2"]


def test_validation_is_held_out_from_training_for_datasets_without_one(tmp_path, make_idx_dataset):
    root = make_idx_dataset(tmp_path / "fm", n_train=200, n_test=20)
    cfg = load_config(overrides=["data.dataset=fashion_mnist", f"data.root={root}", "data.train_fraction=0.5"]).data
    splits = build_image_datasets(cfg, 28)
    val, train_idx = set(splits.val.indices), set(splits.train.indices)
    assert len(val) == 20 and not (val & train_idx) and len(train_idx) == 90
    assert len(splits.test) == 20


def test_evaluation_never_upscales_small_images():
    cfg = load_config("image/cifar10").data
    _, eval_tf = build_transforms(cfg, 32)
    assert not any(isinstance(t, (T.Resize, T.CenterCrop)) for t in eval_tf.transforms)
    out = eval_tf(Image.new("RGB", (32, 32)))
    assert out.shape == (3, 32, 32)
    _, eval224 = build_transforms(load_config("image/flowers102").data, 224)
    assert eval224(Image.new("RGB", (500, 375))).shape == (3, 224, 224)


def test_train_transform_applies_the_recipe():
    train_tf, _ = build_transforms(load_config("image/cifar10").data, 32)
    names = " ".join(type(t).__name__ for t in train_tf.transforms)
    assert "RandomResizedCrop" in names and "RandAugment" in names and "RandomErasing" in names
    x = train_tf(Image.new("RGB", (32, 32), (128, 64, 32)))
    assert isinstance(x, torch.Tensor) and x.shape == (3, 32, 32)


def test_unknown_image_folder_path(tmp_path):
    cfg = load_config(overrides=["data.dataset=imagefolder", f"data.root={tmp_path}"]).data
    with pytest.raises(FileNotFoundError, match="ImageFolder split folder not found"):
        build_image_datasets(cfg, 32)
