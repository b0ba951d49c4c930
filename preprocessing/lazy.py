"""Lazy package attributes: names resolved from their submodule on first use.

Keeps ``import preprocessing`` (and ``deepfake_ssat.models``) free of torch, OpenCV and NumPy, so the
command line parses arguments and reports usage errors before any heavy import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, exports: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__``: ``name`` comes from submodule ``exports[name]`` of ``package`` and is then
    cached in the package's ``namespace`` (its ``globals()``)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{exports[name]}", package), name)
        namespace[name] = value
        return value

    return __getattr__
