"""Fixed sine-cosine position embeddings, in the exact forms the reference checkpoints were trained with."""

from __future__ import annotations

import numpy as np
import torch


def sincos_1d_table(num_positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's table over flattened tokens: (N, D) with sin on even and cos on odd channels.

    This interleaved layout is what official and Hugging Face VideoMAE checkpoints assume; any other
    layout would silently degrade imported weights.
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    div = np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)[None, :]
    table = pos / div
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.from_numpy(table).float()


def _sincos_from_grid(dim: int, pos: np.ndarray) -> np.ndarray:
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d_table(dim: int, grid_h: int, grid_w: int, num_prefix: int = 0) -> torch.Tensor:
    """MAE's 2-D table: (num_prefix + H·W, D), half the channels encode rows, half columns.

    Prefix (class) tokens get zeros, as in MAE.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    gw, gh = np.meshgrid(np.arange(grid_w, dtype=np.float64), np.arange(grid_h, dtype=np.float64))
    emb = np.concatenate([_sincos_from_grid(dim // 2, gw), _sincos_from_grid(dim // 2, gh)], axis=1)
    if num_prefix:
        emb = np.concatenate([np.zeros((num_prefix, dim)), emb], axis=0)
    return torch.from_numpy(emb).float()
