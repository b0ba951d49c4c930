"""Detector folders: a trained detector as people share one, and reading it back without unpickling.

A folder holds ``model.safetensors`` (the weights), ``config.json`` (architecture, the resolved
training config, loss options, the data config inference needs: input size, frames, normalisation,
face-crop settings, decision threshold, detector card; and the validation / test metrics) and
``README.md`` (the model card, ``card.model_card``). It is the layout of a Hugging Face hub repository,
so a hub id loads the same way. ``.pt`` checkpoints stay the format of runs and ``--resume``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = "deepfake-ssat-detector"
FOLDER_VERSION = 1
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


_WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def is_hub_id(source: str | Path) -> bool:
    """``owner/name`` that cannot be a local path: a Hugging Face hub repository. A missing ``runs/x`` whose
    first part is a local folder, a relative ``./x``, or a name ending like a weights file is a path (so a
    typo answers "not found" here, never with someone else's weights from the hub)."""
    text = str(source)
    return (bool(_HUB_ID.fullmatch(text)) and not text.startswith(".")
            and not text.lower().endswith(_WEIGHT_SUFFIXES) and not Path(text).exists()
            and not Path(text.split("/")[0]).exists())


def is_detector_folder(path: str | Path) -> bool:
    """A folder with a ``config.json`` (read_detector_folder checks it and the weights beside it)."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG).is_file() and not (path / "last.pt").is_file()


def detector_config(ckpt: dict[str, Any], model_config: dict[str, Any], loss: dict[str, Any],
                    source: str, test: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint (``model_config`` and ``loss`` as the checkpoint module reads them,
    so a format-1 checkpoint exports like a new one)."""
    from . import __version__

    config = dict(ckpt.get("config") or {})
    config["model"] = model_config
    state = ckpt.get("state") or {}
    return {
        "format": FORMAT, "format_version": FOLDER_VERSION, "library_version": __version__,
        "architecture": ckpt["arch"], "config": config, "loss": loss, "data_config": ckpt.get("data_config") or {},
        "validation": {"metrics": ckpt.get("metrics") or {}, "epoch": state.get("epoch"), "step": state.get("step")},
        "test": test or {}, "exported_from": source,
    }


def write_detector_folder(out_dir: str | Path, tensors: dict[str, Any], config: dict[str, Any], card: str,
                          overwrite: bool = False) -> Path:
    """Write the three files into a new folder beside ``out_dir``, then swap it in: a reader (or a crash)
    sees the old detector or the new one, never a mix. A non-empty folder is refused unless ``overwrite``;
    its other files are carried over."""
    import tempfile

    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out} is not empty: give a new folder, or --overwrite to replace the detector in it")
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=out.parent))
    try:
        # safetensors wants contiguous tensors that share no memory.
        weights = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        save_file(weights, str(new / WEIGHTS), metadata={"format": "pt", "library": "deepfake-ssat"})
        (new / CONFIG).write_text(json.dumps(config, indent=2, default=_jsonable) + "\n")
        (new / CARD).write_text(card)
        # mkdtemp and safetensors make 0700/0600; a shared detector is as readable as the files written plainly
        shutil.copymode(new / CONFIG, new / WEIGHTS)
        mask = os.umask(0)
        os.umask(mask)
        new.chmod(0o777 & ~mask)
        if out.is_dir():
            for extra in out.iterdir():  # the user's own files in the folder stay
                if extra.name not in (WEIGHTS, CONFIG, CARD):
                    (shutil.copytree if extra.is_dir() else shutil.copy2)(extra, new / extra.name)
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            new.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            new.rename(out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    log.info("wrote %s: %s, %s, %s", out, WEIGHTS, CONFIG, CARD)
    return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # a NumPy or torch scalar
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_detector_folder(path: str | Path) -> dict[str, Any]:
    """A detector folder → the dict ``read_checkpoint`` returns for a ``.pt`` (weights, arch, config, loss,
    data config, metrics), from JSON and safetensors only."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        doc = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path / CONFIG} cannot be read as JSON ({e}): not a deepfake-ssat detector folder") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a deepfake-ssat detector folder ({CONFIG} has no \"format\": \"{FORMAT}\"; "
                         "export one with `deepfake-ssat export CHECKPOINT DIR`, or for foreign weights use "
                         "model.init=PATH)")
    version = doc.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{path / CONFIG}: format_version {version!r} is not a number; export the folder again")
    if version > FOLDER_VERSION:
        raise ValueError(f"{path} is a detector folder of format {version}, newer than this "
                         f"deepfake-ssat reads ({FOLDER_VERSION}): upgrade deepfake-ssat")
    for key, kind in (("architecture", dict), ("config", dict), ("data_config", dict)):
        if not isinstance(doc.get(key), kind):
            raise ValueError(f"{path / CONFIG} lacks its {key!r} section (edited by hand?); export the folder again")
    if not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"{path} has a detector config.json but no {WEIGHTS} beside it")
    try:
        tensors = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path / WEIGHTS} is damaged or not a safetensors file ({e})") from None
    validation = doc.get("validation") or {}
    return {"model": tensors, "arch": doc["architecture"], "config": doc["config"], "loss": doc.get("loss") or {},
            "data_config": doc.get("data_config") or {}, "metrics": validation.get("metrics") or {},
            "state": {"epoch": validation.get("epoch"), "step": validation.get("step")},
            "test": doc.get("test") or {}, "detector_folder": str(path)}


def download_detector(repo_id: str) -> Path:
    """A detector folder from the Hugging Face hub, in the hub's local cache: its config.json first (another
    kind of model is refused before its weights are fetched), then the weights and the model card."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        config = Path(hf_hub_download(repo_id, CONFIG))
    except Exception as e:  # offline, no such repository, gated: one line either way
        raise FileNotFoundError(f"{repo_id} is no local path, and as a Hugging Face hub id it could not be fetched "
                                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    try:
        doc = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"hub repository {repo_id} is not a deepfake-ssat detector (its {CONFIG} has no \"format\": "
                         f"\"{FORMAT}\"); for foreign weights use model.init={repo_id}")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=[WEIGHTS, CONFIG, CARD]))
    except Exception as e:
        raise FileNotFoundError(f"could not fetch the weights of {repo_id} from the Hugging Face hub "
                                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
