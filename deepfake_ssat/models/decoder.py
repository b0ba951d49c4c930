"""MAE/VideoMAE-style decoder: visible latents + mask tokens (with positions) → pixels of hidden tokens."""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.models.vision_transformer import Block

from ..masking import gather_tokens
from .encoder import ViTEncoder, init_vit_weights, layer_norm


class MAEDecoder(nn.Module):
    """Predicts the pixels of the requested hidden tokens.

    Follows VideoMAE's layout: the sequence is [prefix, visible, hidden-to-predict] and only the
    last M outputs are projected to pixels. Token order inside a transformer does not matter once
    positions are added, so MAE's un-shuffle step is unnecessary.
    """

    def __init__(self, encoder: ViTEncoder, depth: int, dim: int, num_heads: int):
        super().__init__()
        spec = encoder.spec
        self.num_prefix_tokens = encoder.num_prefix_tokens
        # Encoders that mean-pool leave their tokens un-normalised (VideoMAE); the reconstruction
        # branch still wants the LayerNorm that VideoMAE pre-training applied before the decoder.
        self.input_norm = layer_norm(spec.embed_dim) if isinstance(encoder.norm, nn.Identity) else nn.Identity()
        self.embed = nn.Linear(spec.embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", encoder.position_table(dim).unsqueeze(0), persistent=True)
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio=4.0, qkv_bias=True, norm_layer=layer_norm)
            for _ in range(depth)
        )
        self.norm = layer_norm(dim)
        pixels = spec.patch_size**2 * spec.in_chans * (spec.tubelet if spec.kind == "video" else 1)
        self.head = nn.Linear(dim, pixels)
        self.apply(init_vit_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, keep: torch.Tensor, predict: torch.Tensor) -> torch.Tensor:
        """latent: (B, prefix + K, D_enc); keep: (B, K) ids; predict: (B, M) ids → (B, M, pixels)."""
        x = self.embed(self.input_norm(latent))
        p = self.num_prefix_tokens
        pos = self.pos_embed.to(x.dtype).expand(x.shape[0], -1, -1)
        pos_patches = pos[:, p:]
        parts = [x[:, :p] + pos[:, :p]] if p else []
        parts.append(x[:, p:] + gather_tokens(pos_patches, keep))
        parts.append(self.mask_token.to(x.dtype) + gather_tokens(pos_patches, predict))
        x = torch.cat(parts, dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, -predict.shape[1]:]))
