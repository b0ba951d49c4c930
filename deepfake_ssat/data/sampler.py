"""A deterministic, resumable, rank-sharded sampler."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Shuffles with a seed derived from (seed, epoch) and gives each rank an equal share.

    Like ``DistributedSampler`` (pads by repeating indices so every rank sees the same number),
    plus ``start`` to skip the samples an interrupted epoch already consumed, so a resumed run
    sees exactly the data order of an uninterrupted one.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, seed: int = 0,
                 weights: torch.Tensor | None = None, pad: bool = True):
        if size <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.size, self.rank, self.world_size = size, rank, world_size
        self.shuffle, self.seed = shuffle, seed
        self.weights = weights  # optional per-sample weights (balanced sampling, with replacement)
        self.epoch = 0
        self.start = 0
        self.pad = pad  # evaluation: no padding, so no sample is counted twice
        self.per_rank = math.ceil(size / world_size) if pad else len(range(rank, size, world_size))

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        total = math.ceil(self.size / self.world_size) * self.world_size if self.pad else self.size
        if self.weights is not None:
            return torch.multinomial(self.weights, total, replacement=True, generator=g).tolist()
        order = torch.randperm(self.size, generator=g).tolist() if self.shuffle else list(range(self.size))
        return (order * math.ceil(total / self.size))[:total]

    def __iter__(self) -> Iterator[int]:
        mine = self._order()[self.rank::self.world_size]
        return iter(mine[self.start:])

    def __len__(self) -> int:
        return self.per_rank - self.start
