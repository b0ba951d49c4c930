"""Token masks for the reconstruction task: random patch masking (images) and tube masking (video).

Every sample in a batch keeps the same number of visible tokens, so visible tokens can be selected
with ``gather`` into a dense (B, K, D) tensor. Boolean-mask indexing would give the same result but
forces a device→host sync to learn the output size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Mask:
    """Indices of visible (``keep``) and hidden (``masked``) tokens, each sorted per sample."""

    keep: torch.Tensor  # (B, K) long
    masked: torch.Tensor  # (B, M) long

    @property
    def num_tokens(self) -> int:
        return self.keep.shape[1] + self.masked.shape[1]

    def as_bool(self) -> torch.Tensor:
        """(B, L) bool, True where the token is hidden (for visualisation and tests)."""
        b = self.keep.shape[0]
        out = torch.zeros(b, self.num_tokens, dtype=torch.bool, device=self.keep.device)
        return out.scatter_(1, self.masked, True)


def num_masked(num_tokens: int, ratio: float) -> int:
    """Tokens hidden out of ``num_tokens`` (VideoMAE's ``int(ratio * n)``), at least one hidden and one visible.

    ``ratio`` is ``model.mask_ratio``, checked once where the config is built (``ModelConfig.validate``).
    """
    m = int(ratio * num_tokens + 1e-6)  # the epsilon stops 0.75 * 64 = 47.999… from rounding down
    return min(max(m, 1), num_tokens - 1)


def _split_by_noise(noise: torch.Tensor, n_mask: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = noise.argsort(dim=1)
    n_keep = noise.shape[1] - n_mask
    keep, masked = order[:, :n_keep], order[:, n_keep:]
    return keep.sort(dim=1).values, masked.sort(dim=1).values


def random_mask(batch: int, num_tokens: int, ratio: float, device: torch.device | str | None = None,
                generator: torch.Generator | None = None) -> Mask:
    """MAE masking: each sample hides its own random ``num_masked`` tokens."""
    noise = torch.rand(batch, num_tokens, device=device, generator=generator)
    return Mask(*_split_by_noise(noise, num_masked(num_tokens, ratio)))


def tube_mask(batch: int, num_time: int, num_space: int, ratio: float, device: torch.device | str | None = None,
              generator: torch.Generator | None = None) -> Mask:
    """VideoMAE tube masking: one random spatial mask per sample, repeated over all time slots.

    Tokens are ordered time-major (index = t * num_space + s), matching the tubelet embedding.
    """
    spatial = random_mask(batch, num_space, ratio, device, generator)
    offsets = torch.arange(num_time, device=spatial.keep.device).mul_(num_space)  # (T,)

    def expand(ids: torch.Tensor) -> torch.Tensor:  # (B, S') → (B, T·S'), sorted time-major
        return (offsets[None, :, None] + ids[:, None, :]).flatten(1)

    return Mask(expand(spatial.keep), expand(spatial.masked))


def subsample_masked(mask: Mask, keep_ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random subset of the hidden tokens for the decoder to reconstruct (VideoMAE V2 decoder masking).

    Returns (B, M') indices with M' = ceil(keep_ratio · M). VideoMAE V2 picks the subset with a
    "running cell" pattern; a uniform random subset is used here, which their ablation reports as
    slightly behind it for the same cost.
    """
    b, m = mask.masked.shape
    if keep_ratio >= 1.0:
        return mask.masked
    n = max(1, math.ceil(keep_ratio * m))
    noise = torch.rand(b, m, device=mask.masked.device, generator=generator)
    pick = noise.argsort(dim=1)[:, :n].sort(dim=1).values
    return mask.masked.gather(1, pick)


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x: (B, L, D), ids: (B, K) → (B, K, D)."""
    return x.gather(1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
