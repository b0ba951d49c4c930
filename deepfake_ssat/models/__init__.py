"""Models: ViT encoders (image / video), MAE decoder, the SSAT wrapper and the registry.

Names are imported on first use: the registry of architectures (``list_models``, ``get_spec``) needs no
torch, so the command line checks a config's model name before torch loads.
"""

from __future__ import annotations

from preprocessing.lazy import lazy_attributes

_EXPORTS = {
    "ArchSpec": "spec", "MODES": "ssat", "SSATModel": "ssat", "arch_overrides": "registry", "create_model": "registry",
    "get_spec": "registry", "list_models": "registry", "register_model": "registry",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS, globals())
