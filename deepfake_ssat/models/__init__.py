"""Models: ViT encoders (image / video), MAE decoder, the SSAT wrapper and the registry."""

from .registry import arch_overrides, create_model, get_spec, list_models, register_model
from .spec import ArchSpec
from .ssat import MODES, SSATModel

__all__ = ["ArchSpec", "MODES", "SSATModel", "arch_overrides", "create_model", "get_spec", "list_models",
           "register_model"]
