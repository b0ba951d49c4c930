"""ViT encoders for images (2-D patches, class token) and video (2×16×16 tubelets, mean-pool head).

Both are built from timm's transformer ``Block`` so attention runs through PyTorch's
``scaled_dot_product_attention`` (flash / memory-efficient kernels where the device has them).
Parameter names follow timm / official VideoMAE (``patch_embed.proj``, ``blocks.N.attn.qkv``,
``fc_norm``, ``head``), which keeps foreign-checkpoint conversion a matter of a few renames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn as nn
from einops import rearrange
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch.utils.checkpoint import checkpoint

from ..architectures import ArchSpec
from ..masking import gather_tokens
from .pos_embed import sincos_1d_table, sincos_2d_table


def init_vit_weights(module: nn.Module) -> None:
    """timm/MAE initialisation: truncated normal linears, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class ViTEncoder(nn.Module, ABC):
    """Shared trunk: patch tokens (+pos) → optional masking → [prefix tokens] → blocks → norm → head.

    Subclasses provide ``patch_embed``, the position table and ``patchify``.
    """

    num_prefix_tokens: int = 0

    def __init__(self, spec: ArchSpec, num_classes: int, drop_path: float = 0.0, grad_checkpointing: bool = False):
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        self.embed_dim = spec.embed_dim
        self.grad_checkpointing = grad_checkpointing
        dpr = [drop_path * i / max(spec.depth - 1, 1) for i in range(spec.depth)]  # stochastic depth grows with depth
        norm_layer = layer_norm
        self.blocks = nn.ModuleList(
            Block(spec.embed_dim, spec.num_heads, mlp_ratio=spec.mlp_ratio, qkv_bias=True,
                  drop_path=dpr[i], norm_layer=norm_layer)
            for i in range(spec.depth)
        )
        avg = spec.global_pool == "avg"
        # VideoMAE / MAE-finetune convention: with mean pooling the token norm moves after pooling.
        self.norm = nn.Identity() if avg else norm_layer(spec.embed_dim)
        # Without a head (pre-training) nothing pools, so no pooled-feature norm is built.
        self.fc_norm = norm_layer(spec.embed_dim) if avg and num_classes > 0 else nn.Identity()
        self.head = nn.Linear(spec.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    # --- subclass hooks -------------------------------------------------------------------------
    @property
    @abstractmethod
    def num_patches(self) -> int: ...

    @abstractmethod
    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) patch tokens without position."""

    @abstractmethod
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, pixels_per_patch, C) in the token order and pixel order of the decoder's output."""

    @abstractmethod
    def position_table(self, dim: int) -> torch.Tensor:
        """(num_prefix + L, dim) fixed table."""

    def prefix_tokens(self, batch: int) -> torch.Tensor | None:
        return None

    # --- shared logic ---------------------------------------------------------------------------
    def _init_common(self) -> None:
        self.apply(init_vit_weights)
        w = self.patch_embed.proj.weight  # xavier on the flattened kernel, as MAE
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if isinstance(self.head, nn.Linear):
            self.head.weight.data.mul_(self.spec.head_init_scale)
            self.head.bias.data.mul_(self.spec.head_init_scale)

    def _register_pos_embed(self) -> None:
        table = self.position_table(self.embed_dim).unsqueeze(0)
        if self.spec.learned_pos_embed:
            self.pos_embed = nn.Parameter(table)
        else:
            # Persistent so checkpoints carry it (imported timm tables included) and resume exactly.
            self.register_buffer("pos_embed", table, persistent=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) patch tokens with their positions, before any masking."""
        tokens = self.embed_patches(x)
        return tokens + self.pos_embed.to(tokens.dtype)[:, self.num_prefix_tokens:]

    def forward_features(
        self, x: torch.Tensor | None, keep: torch.Tensor | None = None, embedded: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: input batch; keep: (B, K) visible token ids or None → (B, prefix + K|L, D).

        ``embedded``: ``embed(x)`` computed already — SSAT's two passes over one clip share it, which saves
        a patch-embedding forward and backward per step.
        """
        tokens = self.embed(x) if embedded is None else embedded
        pos = self.pos_embed.to(tokens.dtype)
        p = self.num_prefix_tokens
        if keep is not None:
            tokens = gather_tokens(tokens, keep)
        prefix = self.prefix_tokens(tokens.shape[0])
        if prefix is not None:
            tokens = torch.cat([prefix + pos[:, :p], tokens], dim=1)
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(blk, tokens, use_reentrant=False)
            else:
                tokens = blk(tokens)
        return self.norm(tokens)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.spec.global_pool == "avg":
            return self.fc_norm(tokens[:, self.num_prefix_tokens:].mean(dim=1))
        return tokens[:, 0]

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def layer_norm(dim: int, **kwargs) -> nn.LayerNorm:
    """LayerNorm with the 1e-6 epsilon of ViT/MAE/VideoMAE (timm passes device/dtype kwargs)."""
    return nn.LayerNorm(dim, eps=1e-6, **kwargs)


class PatchEmbed2d(nn.Module):
    def __init__(self, patch: int, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, H'·W', D)


class PatchEmbed3d(nn.Module):
    def __init__(self, tubelet: int, patch: int, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, T'·H'·W', D), time-major


class ImageViT(ViTEncoder):
    """Input (B, C, H, W). Class token + MAE 2-D sin-cos position table."""

    def __init__(self, spec: ArchSpec, num_classes: int, drop_path: float = 0.0, grad_checkpointing: bool = False):
        super().__init__(spec, num_classes, drop_path, grad_checkpointing)
        if spec.img_size % spec.patch_size:
            raise ValueError(f"img_size {spec.img_size} is not a multiple of patch_size {spec.patch_size}")
        self.grid = (spec.img_size // spec.patch_size,) * 2
        self.num_prefix_tokens = 1
        self.patch_embed = PatchEmbed2d(spec.patch_size, spec.in_chans, spec.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.embed_dim))
        self._register_pos_embed()
        self._init_common()
        nn.init.normal_(self.cls_token, std=0.02)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def position_table(self, dim: int) -> torch.Tensor:
        return sincos_2d_table(dim, *self.grid, num_prefix=self.num_prefix_tokens)

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(x)

    def prefix_tokens(self, batch: int) -> torch.Tensor:
        return self.cls_token.expand(batch, -1, -1)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        p = self.spec.patch_size
        return rearrange(x, "b c (h p) (w q) -> b (h w) (p q) c", p=p, q=p)


class VideoViT(ViTEncoder):
    """Input (B, C, T, H, W) as official VideoMAE. Tubelets t×p×p, VideoMAE 1-D sin-cos table."""

    def __init__(self, spec: ArchSpec, num_classes: int, drop_path: float = 0.0, grad_checkpointing: bool = False):
        super().__init__(spec, num_classes, drop_path, grad_checkpointing)
        if spec.img_size % spec.patch_size or spec.num_frames % spec.tubelet:
            raise ValueError(
                f"input {spec.num_frames}×{spec.img_size}² does not tile into tubelets "
                f"{spec.tubelet}×{spec.patch_size}²"
            )
        side = spec.img_size // spec.patch_size
        self.grid = (spec.num_frames // spec.tubelet, side, side)
        self.patch_embed = PatchEmbed3d(spec.tubelet, spec.patch_size, spec.in_chans, spec.embed_dim)
        self._register_pos_embed()
        self._init_common()

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def tokens_per_frame(self) -> int:
        return self.grid[1] * self.grid[2]

    def position_table(self, dim: int) -> torch.Tensor:
        return sincos_1d_table(self.num_patches, dim)

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(x)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        t, p = self.spec.tubelet, self.spec.patch_size
        return rearrange(x, "b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c", p0=t, p1=p, p2=p)


def build_encoder(
    spec: ArchSpec, num_classes: int, drop_path: float = 0.0, grad_checkpointing: bool = False
) -> ViTEncoder:
    cls = VideoViT if spec.kind == "video" else ImageViT
    return cls(spec, num_classes, drop_path=drop_path, grad_checkpointing=grad_checkpointing)
