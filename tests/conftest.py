from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data (real footage) is not present")
    return SHARED_DATA


def write_idx_dataset(root: Path, n_train: int = 120, n_test: int = 40, seed: int = 0) -> Path:
    """Fashion-MNIST-format IDX files whose 10 classes are learnable bright blocks at class-specific places."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)

    def make(n):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, c in enumerate(y):
            r, col = divmod(int(c), 5)
            x[i, 4 + 10 * r: 12 + 10 * r, 2 + 5 * col: 6 + 5 * col] = 230
        return x, y.astype(np.uint8)

    def write(path, arr, kind):
        header = (0x0800 | arr.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        with gzip.open(path, "wb") as f:
            f.write(header + arr.tobytes())

    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = make(n)
        write(root / f"{split}-images-idx3-ubyte.gz", x, "images")
        write(root / f"{split}-labels-idx1-ubyte.gz", y, "labels")
    return root


@pytest.fixture(scope="session")
def make_idx_dataset():
    """Writes a tiny Fashion-MNIST-format dataset: ``make_idx_dataset(root, n_train=120, n_test=40)``."""
    return write_idx_dataset
