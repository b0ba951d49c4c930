"""The architectures: what one model name means (``ArchSpec``), and the catalogue of names (timm's
registry idea, with small variants for tests).

Plain data, no torch and no config: the config checks a model name here before torch loads, and the
models build from what it returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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


_REGISTRY: dict[str, Callable[[], ArchSpec]] = {}


def register_model(fn: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str, **overrides) -> ArchSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    spec = _REGISTRY[name]()
    fields = {f.name for f in dataclasses.fields(ArchSpec)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise TypeError(f"unknown architecture option(s) for {name}: {', '.join(bad)}")
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if spec.embed_dim % spec.num_heads:
        raise ValueError(f"{name}: embed_dim {spec.embed_dim} is not divisible by num_heads {spec.num_heads}")
    return spec


def _image(embed_dim: int, num_heads: int, depth: int = 12) -> ArchSpec:
    # Paper / official SSAT image decoder: depth 2, width 128, 16 heads.
    return ArchSpec(kind="image", embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                    decoder_depth=2, decoder_dim=128, decoder_heads=16)


def _video(embed_dim: int, num_heads: int, depth: int = 12) -> ArchSpec:
    # VideoMAE: 16×224², tubelet 2, mean-pool + LayerNorm head with init scale 0.001,
    # decoder 4 blocks × 384 wide, 6 heads (VideoMAE-B).
    return ArchSpec(kind="video", embed_dim=embed_dim, depth=depth, num_heads=num_heads, num_frames=16,
                    tubelet=2, global_pool="avg", head_init_scale=0.001,
                    decoder_depth=4, decoder_dim=384, decoder_heads=6)


@register_model
def vit_tiny() -> ArchSpec:
    return _image(192, 3)


@register_model
def vit_small() -> ArchSpec:
    return _image(384, 6)


@register_model
def vit_base() -> ArchSpec:
    return _image(768, 12)


@register_model
def videomae_tiny() -> ArchSpec:
    """ViT-Tiny widths (192/12/3) with a light decoder (2 × 96, 3 heads): a video ViT a CPU trains in
    minutes at 8 × 112² (196 tokens), for small real datasets."""
    return dataclasses.replace(_video(192, 3), decoder_depth=2, decoder_dim=96, decoder_heads=3)


@register_model
def videomae_small() -> ArchSpec:
    return dataclasses.replace(_video(384, 6), decoder_dim=192, decoder_heads=3)


@register_model
def videomae_base() -> ArchSpec:
    return _video(768, 12)


@register_model
def test_vit() -> ArchSpec:
    """A few thousand parameters: 32² input, 8² patches. For tests and smoke runs only."""
    return ArchSpec(kind="image", embed_dim=32, depth=2, num_heads=2, img_size=32, patch_size=8,
                    decoder_depth=1, decoder_dim=16, decoder_heads=2)


@register_model
def test_videomae() -> ArchSpec:
    """4 frames × 32², tubelet 2×16². For tests and smoke runs only."""
    return ArchSpec(kind="video", embed_dim=32, depth=2, num_heads=2, img_size=32, patch_size=16,
                    num_frames=4, tubelet=2, global_pool="avg", head_init_scale=0.001,
                    decoder_depth=1, decoder_dim=16, decoder_heads=2)
