"""Model registry: one name → one architecture, with small variants for tests (timm's idea)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .spec import ArchSpec
from .ssat import SSATModel

_REGISTRY: dict[str, Callable[[], ArchSpec]] = {}

# Keyword arguments of SSATModel that create_model passes through; everything else must be an
# ArchSpec field.
_MODEL_KWARGS = {
    "mode", "num_classes", "mask_ratio", "lambda_cls", "target_norm", "drop_path", "grad_checkpointing",
    "decoder_keep_ratio", "label_smoothing", "class_weights",
}


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


def create_model(name: str, **kwargs) -> SSATModel:
    """Build a registered model. ``kwargs`` mix SSAT options (mode, mask_ratio, …) and ArchSpec
    overrides (img_size, patch_size, num_frames, decoder_depth, …); ``None`` values keep defaults."""
    model_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _MODEL_KWARGS}
    model_kwargs = {k: v for k, v in model_kwargs.items() if v is not None}
    spec = get_spec(name, **kwargs)
    return SSATModel(spec, **model_kwargs)


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
