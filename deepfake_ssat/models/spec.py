"""Architecture description shared by the registry, the encoders and the decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchSpec:
    kind: Literal["image", "video"]
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_frames: int = 1  # video only
    tubelet: int = 1  # video only: frames per token
    global_pool: Literal["token", "avg"] = "token"
    head_init_scale: float = 1.0
    learned_pos_embed: bool = False
    decoder_depth: int = 2
    decoder_dim: int = 128
    decoder_heads: int = 16
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    weights_note: str = field(default="random initialisation", compare=False)

    def data_config(self) -> dict:
        """What a data pipeline needs to feed this model (timm's ``resolve_data_config`` idea)."""
        cfg = {
            "kind": self.kind,
            "input_size": [self.in_chans, self.img_size, self.img_size],
            "mean": list(self.mean),
            "std": list(self.std),
        }
        if self.kind == "video":
            cfg.update(num_frames=self.num_frames, tubelet=self.tubelet)
        return cfg

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d
