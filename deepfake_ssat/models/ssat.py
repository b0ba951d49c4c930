"""The SSAT wrapper: one encoder, an optional MAE decoder, and the training mode that ties them.

Modes:
- ``scratch``:  classifier only (no decoder is built).
- ``ssat``:     joint training, two encoder passes with shared weights per step — the full input
                feeds the classifier, the masked input feeds the decoder;
                loss = λ·CE + (1 − λ)·reconstruction.
- ``pretrain``: reconstruction only (the SSL half of the paper's SSL+FT baseline); no head.
- ``finetune``: classifier only, weights initialised from a ``pretrain`` checkpoint.

The forward returns a dict so the trainer never needs to know which auxiliary task is on.
Inference (no target) runs the encoder on the full input only; the decoder is never run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

import torch
import torch.nn as nn

from ..architectures import ArchSpec
from ..config import Mode
from ..losses import TargetNorm, classification_loss, reconstruction_loss, reconstruction_target, ssat_loss
from ..masking import Mask, random_mask, subsample_masked, tube_mask
from .decoder import MAEDecoder
from .encoder import build_encoder

if TYPE_CHECKING:
    from ..config import ModelConfig

MODES: tuple[str, ...] = get_args(Mode)


class SSATModel(nn.Module):
    """``spec``: the architecture; ``cfg``: the ``model`` section of the config, whose fields are the one
    declaration (and ``ModelConfig.validate`` the one check) of the SSAT options read here. Build it with
    ``create_model``, which validates a section given by name and options."""

    def __init__(
        self,
        spec: ArchSpec,
        cfg: ModelConfig,
        num_classes: int = 2,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights has {len(class_weights)} entries for {num_classes} classes")
        self.spec = spec
        self.mode: Mode = cfg.mode
        self.num_classes = num_classes if cfg.mode != "pretrain" else 0
        self.mask_ratio = cfg.mask_ratio
        self.lambda_cls = cfg.lambda_cls
        target_norm = cfg.target_norm
        if target_norm == "auto":
            target_norm = "per_channel" if spec.kind == "video" else "norm_pix"
        self.target_norm: TargetNorm = target_norm
        self.decoder_keep_ratio = cfg.decoder_keep_ratio
        self.label_smoothing = label_smoothing
        self.register_buffer(
            "class_weights",
            torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None,
            persistent=False,
        )
        self.encoder = build_encoder(spec, self.num_classes, drop_path=cfg.drop_path,
                                     grad_checkpointing=cfg.grad_checkpointing)
        self.decoder = (
            MAEDecoder(self.encoder, spec.decoder_depth, spec.decoder_dim, spec.decoder_heads)
            if cfg.mode in ("ssat", "pretrain")
            else None
        )

    # ------------------------------------------------------------------------------------------
    @property
    def uses_classifier(self) -> bool:
        return self.mode != "pretrain"

    @property
    def uses_reconstruction(self) -> bool:
        return self.decoder is not None

    # --- optimiser hooks (timm's create_optimizer_v2 reads these) ----------------------------
    def no_weight_decay(self) -> set[str]:
        """Tokens and position tables never decay (norms and biases are excluded by their 1-D shape)."""
        return {"encoder.cls_token", "encoder.pos_embed", "decoder.mask_token", "decoder.pos_embed"}

    def group_matcher(self, coarse: bool = False) -> dict:
        """Layer ids for layer-wise lr decay: embeddings < block 0 < … < final norm < head and decoder."""
        return {
            "stem": r"^encoder\.(?:cls_token|pos_embed|patch_embed)",
            "blocks": [(r"^encoder\.blocks\.(\d+)", None), (r"^encoder\.(?:norm|fc_norm)\.", (99999,))],
        }

    def data_config(self) -> dict:
        return self.spec.data_config()

    def sample_mask(self, batch: int, generator: torch.Generator | None = None) -> Mask:
        device = self.encoder.pos_embed.device
        if self.spec.kind == "video":
            t = self.encoder.grid[0]
            return tube_mask(batch, t, self.encoder.num_patches // t, self.mask_ratio, device, generator)
        return random_mask(batch, self.encoder.num_patches, self.mask_ratio, device, generator)

    def reconstruct(
        self, x: torch.Tensor, mask: Mask, generator: torch.Generator | None = None,
        embedded: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masked pass → (prediction (B, M', P), target (B, L, P), predicted ids (B, M')).

        ``embedded``: ``encoder.embed(x)`` when the caller has it already."""
        if self.decoder is None:
            raise RuntimeError(f"mode {self.mode!r} has no decoder; reconstruction needs 'ssat' or 'pretrain'")
        latent = self.encoder.forward_features(x, mask.keep, embedded=embedded)
        predict = subsample_masked(mask, self.decoder_keep_ratio, generator) if self.training else mask.masked
        pred = self.decoder(latent, mask.keep, predict)
        pixels = x if self.target_norm == "input" else self.unnormalize(x)
        target = reconstruction_target(self.encoder.patchify(pixels), self.target_norm)
        return pred, target, predict

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the input mean/std so the reconstruction target is built from real pixels (all targets but
        ``input``)."""
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.spec.mean, device=x.device, dtype=x.dtype).view(shape)
        std = torch.tensor(self.spec.std, device=x.device, dtype=x.dtype).view(shape)
        return x * std + mean

    def forward(
        self,
        x: torch.Tensor,
        target: torch.Tensor | None = None,
        mask: Mask | None = None,
        generator: torch.Generator | None = None,
        x_rec: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """x: (B, C, H, W) or (B, C, T, H, W); target: (B,) labels or (B, C) soft labels.

        ``x_rec``: input of the reconstruction pass when it should differ from the classifier's
        (e.g. the images before mixup/cutmix); default ``x``.

        Without ``target`` only the classifier runs (inference). With it, the losses of the mode are
        computed; ``loss_cls`` / ``loss_rec`` are zero tensors when the mode lacks that term.
        """
        out: dict[str, torch.Tensor] = {}
        # Both passes of one clip share its patch embedding (the masked pass gathers from it).
        shared = self.uses_classifier and target is not None and self.uses_reconstruction and x_rec is None
        embedded = self.encoder.embed(x) if shared else None
        if self.uses_classifier:
            out["logits"] = (self.encoder.forward_head(self.encoder.forward_features(x, embedded=embedded))
                             if shared else self.encoder(x))
        if target is None:
            return out
        zero = x.new_zeros((), dtype=torch.float32)
        loss_cls = (
            classification_loss(out["logits"], target, self.class_weights, self.label_smoothing)
            if self.uses_classifier
            else zero
        )
        loss_rec = zero
        if self.uses_reconstruction:
            mask = mask if mask is not None else self.sample_mask(x.shape[0], generator)
            pred, tgt, ids = self.reconstruct(x if x_rec is None else x_rec, mask, generator, embedded)
            loss_rec = reconstruction_loss(pred, tgt, ids)
        if self.mode == "ssat":
            loss = ssat_loss(loss_cls, loss_rec, self.lambda_cls)
        elif self.mode == "pretrain":
            loss = loss_rec
        else:
            loss = loss_cls
        out.update(loss=loss, loss_cls=loss_cls.detach(), loss_rec=loss_rec.detach())
        return out
