"""Models: ViT encoders (image / video), MAE decoder, the SSAT wrapper and the registry.

Names are imported on first use: the registry of architectures (``list_models``, ``get_spec``) needs no
torch, so the command line checks a config's model name before torch loads.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArchSpec": "spec", "MODES": "ssat", "SSATModel": "ssat", "arch_overrides": "registry", "create_model": "registry",
    "get_spec": "registry", "list_models": "registry", "register_model": "registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deepfake_ssat.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
