"""Checkpoints: weights + resolved config + everything inference needs, written atomically.

A checkpoint holds the model weights, the architecture, the resolved config, the data config the
model needs at inference (input size, frames, mean/std, class names, …), and for ``last`` the
optimiser / scheduler / scaler / RNG / progress state that ``--resume`` restores.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from preprocessing.files import atomic_path

from .models import ArchSpec, SSATModel
from .models.convert import WeightLoadError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` via a temporary file + rename, so a crash never leaves half a file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightLoadError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "arch" not in ckpt:
        raise WeightLoadError(f"{path} is not a deepfake-ssat checkpoint (use model.init=… for foreign weights)")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], with_decoder: bool = False) -> SSATModel:
    """Rebuild the model of a checkpoint. Without the decoder (inference), the reconstruction
    weights are skipped; every classifier weight must be present."""
    arch = dict(ckpt["arch"])
    arch["mean"], arch["std"] = tuple(arch["mean"]), tuple(arch["std"])
    spec = ArchSpec(**arch)
    kw = dict(ckpt["model_kwargs"])
    mode = kw.pop("mode")
    if not with_decoder and mode in ("ssat", "finetune"):
        mode = "scratch"
    model = SSATModel(spec, mode=mode, **kw)
    state = ckpt["model"]
    if not with_decoder:
        state = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise WeightLoadError(f"checkpoint lacks weights: {result.missing_keys[:5]}")
    return model
