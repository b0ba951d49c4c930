"""Models: ViT encoders (image / video), MAE decoder, the SSAT wrapper and the registry.

Names are imported on first use: the registry of architectures (``list_models``, ``get_spec``) needs no
torch, so the command line checks a config's model name before torch loads.
"""

from __future__ import annotations

from preprocessing.lazy import lazy_attributes

# The catalogue of architectures lives a floor below (``deepfake_ssat.architectures``): the config reads
# model names there. Re-exported here, where users look for it.
_EXPORTS = {
    "ArchSpec": ".architectures", "MODES": "ssat", "SSATModel": "ssat", "arch_overrides": "registry",
    "create_model": "registry", "get_spec": ".architectures", "list_models": ".architectures",
    "register_model": ".architectures",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS, globals())
