"""Loss terms of SSAT: weighted cross-entropy, masked reconstruction, and their λ-weighted sum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from .masking import gather_tokens

TargetNorm = Literal["none", "input", "norm_pix", "per_channel"]


def classification_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy with optional class weights (the paper's weight w on the real class).

    ``target`` is (B,) class indices or (B, C) soft targets (mixup/cutmix). With hard targets and
    weights, the mean is weighted (Σ wᵢ·ℓᵢ / Σ wᵢ), as ``torch.nn.CrossEntropyLoss``.
    """
    weight = class_weights.to(logits.device, torch.float32) if class_weights is not None else None
    return F.cross_entropy(logits.float(), target, weight=weight, label_smoothing=label_smoothing)


def reconstruction_target(patches: torch.Tensor, norm: TargetNorm) -> torch.Tensor:
    """patches: (B, L, N, C) pixels per token → (B, L, N·C) regression target.

    - ``none``: raw pixels.
    - ``input``: the pixels as given; the model passes its mean/std-normalised input for this one
      (the official SSAT image code, whose ``norm_pix_loss`` is off by default).
    - ``norm_pix`` (image MAE): each patch normalised jointly over all its N·C values.
    - ``per_channel`` (VideoMAE): each tubelet normalised per channel over its N pixels.
    Statistics use the unbiased variance, as both reference implementations do.
    """
    x = patches.float()
    if norm == "norm_pix":
        flat = x.flatten(2)
        mean, var = flat.mean(dim=-1, keepdim=True), flat.var(dim=-1, keepdim=True)
        return (flat - mean) / (var + 1e-6).sqrt()
    if norm == "per_channel":
        mean, std = x.mean(dim=-2, keepdim=True), x.var(dim=-2, keepdim=True).sqrt()
        return ((x - mean) / (std + 1e-6)).flatten(2)
    if norm in ("none", "input"):
        return x.flatten(2)
    raise ValueError(f"unknown target normalisation {norm!r}")


def target_to_pixels(pred: torch.Tensor, pixels: torch.Tensor, norm: TargetNorm,
                     mean: Sequence[float] = (), std: Sequence[float] = ()) -> torch.Tensor:
    """The inverse of ``reconstruction_target`` for predicted tokens, for showing them as pixels.

    pred: (B, M, N·C) in target space; pixels: (B, M, N, C) the true pixels of those tokens, whose own
    statistics undo ``norm_pix`` / ``per_channel`` (so a picture shows the structure the decoder got,
    not brightness it was given); ``mean``/``std``: the input normalisation, which ``input`` undoes.
    Returns (B, M, N, C) pixels.
    """
    x = pixels.float()
    p = pred.float().view(x.shape)
    if norm == "norm_pix":
        flat = x.flatten(2)
        mean_t, var = flat.mean(dim=-1, keepdim=True), flat.var(dim=-1, keepdim=True)
        return (p.flatten(2) * (var + 1e-6).sqrt() + mean_t).view(x.shape)
    if norm == "per_channel":
        mean_t, std_t = x.mean(dim=-2, keepdim=True), x.var(dim=-2, keepdim=True).sqrt()
        return p * (std_t + 1e-6) + mean_t
    if norm == "input":
        return p * torch.tensor(std, device=p.device) + torch.tensor(mean, device=p.device)
    if norm == "none":
        return p
    raise ValueError(f"unknown target normalisation {norm!r}")


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """MSE between ``pred`` (B, M, P) and the target tokens ``ids`` (B, M) of ``target`` (B, L, P)."""
    return F.mse_loss(pred.float(), gather_tokens(target, ids))


def ssat_loss(loss_cls: torch.Tensor, loss_rec: torch.Tensor, lam: float) -> torch.Tensor:
    """L = λ·L_cls + (1 − λ)·L_rec (λ = 0.1 in the paper)."""
    return lam * loss_cls + (1.0 - lam) * loss_rec
