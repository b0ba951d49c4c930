"""Building a model from its config: the architecture named in the catalogue, with the config's overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..architectures import ArchSpec, get_spec
from ..config import ModelConfig
from ..configschema import from_dict

if TYPE_CHECKING:
    from .ssat import SSATModel


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
