"""Model registry: one name → one architecture, with small variants for tests (timm's idea)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .spec import ArchSpec

if TYPE_CHECKING:
    from ..config import ModelConfig
    from .ssat import SSATModel

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


def arch_overrides(cfg: ModelConfig) -> dict[str, Any]:
    """The fields of the model config that override the registered architecture (those that are also
    ArchSpec fields: img_size, patch_size, num_frames, decoder_depth, …), without the unset (null) ones."""
    arch = {f.name for f in dataclasses.fields(ArchSpec)}
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
            if f.name in arch and getattr(cfg, f.name) is not None}


def create_model(model: str | ModelConfig, *, num_classes: int = 2, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, class_weights: Sequence[float] | None = None,
                 label_smoothing: float = 0.0, **options: Any) -> SSATModel:
    """Build a model from its config section, the one declaration of every model option.

    ``model`` is a ``ModelConfig`` (validated, as ``load_config`` returns it), or a registered name
    with ``options`` = ModelConfig fields (``mode``, ``mask_ratio``, ``img_size``, …), checked exactly as
    ``--set model.KEY=VALUE`` is. The remaining arguments come from the data and the loss: classes,
    input statistics (default: the architecture's), class weights and label smoothing.
    """
    from ..config import ModelConfig
    from ..configschema import from_dict
    from .ssat import SSATModel  # torch: only when a model is built

    if isinstance(model, str):
        cfg = from_dict(ModelConfig, {"name": model, **options}, prefix="model.")
    elif options:
        raise TypeError(f"create_model: options {sorted(options)} given with a ModelConfig; set them in it")
    else:
        cfg = model
    stats = {k: tuple(v) for k, v in (("mean", mean), ("std", std)) if v is not None}
    spec = get_spec(cfg.name, **arch_overrides(cfg), **stats)
    return SSATModel(spec, cfg, num_classes=num_classes, class_weights=class_weights,
                     label_smoothing=label_smoothing)


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
