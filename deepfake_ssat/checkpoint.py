"""Checkpoints: weights + resolved config + everything inference needs, written atomically.

A checkpoint holds the model weights (``model``), the architecture (``arch``), the resolved config
(``config``; its ``model`` section is the model's options), the loss options the data decided
(``loss``: number of classes, class weights, label smoothing), the data config the model needs at
inference (input size, frames, mean/std, class names, decision threshold, face-crop settings, …),
and for ``last`` the optimiser / scheduler / scaler / RNG / progress state that ``--resume`` restores.
``read_checkpoint`` also reads detector folders (``deepfake-ssat export``) and Hugging Face hub ids of
them, into the same dict.

Format 1 (before the config became the one declaration of model options) stored the SSAT options
and the loss options together as ``model_kwargs``; it still loads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import torch

from preprocessing.files import atomic_path

from .config import ModelConfig
from .configschema import from_dict
from .detector_folder import download_detector, is_detector_folder, is_hub_id, read_detector_folder
from .models import ArchSpec, SSATModel
from .models.convert import WeightLoadError

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
LOSS_KEYS = ("num_classes", "class_weights", "label_smoothing")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` via a temporary file + rename, so a crash never leaves half a file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)
    return path


_WHAT_TO_DO = "give the best.pt or last.pt of a `deepfake-ssat train` run, or an exported detector folder"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A deepfake-ssat checkpoint: a ``.pt`` file, a run folder (its last.pt), a detector folder or the
    Hugging Face hub id of one. Anything else is refused with one line saying what the file is (empty,
    not a PyTorch file, truncated, Python objects, another project's)."""
    if is_hub_id(path):
        return read_detector_folder(download_detector(str(path)))
    path = Path(path)
    if is_detector_folder(path):
        return read_detector_folder(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise WeightLoadError(f"{path} is empty (0 bytes), not a checkpoint: {_WHAT_TO_DO}")
    with path.open("rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):  # neither torch's zip nor its legacy pickle
        raise WeightLoadError(f"{path} is not a PyTorch checkpoint file ({size:,} bytes that start like no file "
                              f"torch.save writes): {_WHAT_TO_DO}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refused a pickled class or function: nothing of it is run, the file is refused
        raise WeightLoadError(f"{path} holds Python objects besides tensors (a whole pickled model, or a checkpoint "
                              f"of another project), which are never loaded here: {_WHAT_TO_DO}, or for foreign "
                              "weights use model.init=FILE") from None
    except Exception as e:
        if head == b"PK\x03\x04":  # a zip, as torch.save writes, whose end is missing or damaged
            raise WeightLoadError(f"{path} is a PyTorch file that is truncated or damaged ({size:,} bytes; "
                                  f"{type(e).__name__}): copy it again, or {_WHAT_TO_DO}") from None
        raise WeightLoadError(f"{path} is not a PyTorch checkpoint file ({size:,} bytes that torch.load cannot "
                              f"read): {_WHAT_TO_DO}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "arch" not in ckpt:
        keys = ", ".join(sorted(map(str, ckpt))[:5]) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise WeightLoadError(f"{path} is a PyTorch file but not a deepfake-ssat checkpoint (it holds {keys}): "
                              f"{_WHAT_TO_DO}, or for foreign weights use model.init=FILE")
    return ckpt


def run_test_metrics(path: str | Path) -> dict[str, float]:
    """The test-split metrics a training run measured for its ``best.pt`` (its ``summary.json``), or {}."""
    path = Path(path)
    summary = path.parent / "summary.json"
    if path.name != "best.pt" or not summary.is_file():
        return {}
    return dict(json.loads(summary.read_text()).get("test_best") or {})


def checkpoint_model_config(ckpt: dict[str, Any]) -> ModelConfig:
    """The ``model`` section the checkpoint was trained with (validated like any config)."""
    return from_dict(ModelConfig, (ckpt.get("config") or {}).get("model") or {}, prefix="model.")


def loss_options(ckpt: dict[str, Any]) -> dict[str, Any]:
    """``num_classes``, ``class_weights`` and ``label_smoothing`` of the checkpoint's model."""
    stored = ckpt.get("loss") or ckpt.get("model_kwargs") or {}  # format 1: inside model_kwargs
    return {k: stored.get(k) for k in LOSS_KEYS if stored.get(k) is not None}


def model_from_checkpoint(ckpt: dict[str, Any], with_decoder: bool = False) -> SSATModel:
    """Rebuild the model of a checkpoint. Without the decoder (inference), the reconstruction
    weights are skipped; every classifier weight must be present."""
    arch = dict(ckpt["arch"])
    arch["mean"], arch["std"] = tuple(arch["mean"]), tuple(arch["std"])
    spec = ArchSpec(**arch)
    cfg = checkpoint_model_config(ckpt)
    if not with_decoder and cfg.mode == "ssat":
        cfg = dataclasses.replace(cfg, mode="scratch")
    model = SSATModel(spec, cfg, **loss_options(ckpt))
    state = ckpt["model"]
    if not with_decoder:
        state = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise WeightLoadError(f"checkpoint lacks weights: {result.missing_keys[:5]}")
    return model
