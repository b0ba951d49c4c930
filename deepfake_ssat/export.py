"""``deepfake-ssat export``: a training checkpoint → a detector folder people can share (``detector_folder``)."""

from __future__ import annotations

from pathlib import Path

from .card import model_card
from .checkpoint import checkpoint_model_config, loss_options, read_checkpoint, run_test_metrics
from .configschema import to_dict
from .detector_folder import detector_config, write_detector_folder


def export_detector(checkpoint: str | Path, out_dir: str | Path, name: str | None = None,
                    overwrite: bool = False) -> Path:
    """Write ``model.safetensors``, ``config.json`` and the model card ``README.md`` of ``checkpoint`` into
    ``out_dir``. A run's ``best.pt`` also carries the test metrics of its run (``summary.json``)."""
    path = Path(checkpoint)
    ckpt = read_checkpoint(path)
    if ckpt.get("detector_folder"):
        raise ValueError(f"{checkpoint} is already a detector folder; copy it instead")
    source = f"{path.parent.name}/{path.name}" if path.is_file() else f"{path.name}/last.pt"
    doc = detector_config(ckpt, to_dict(checkpoint_model_config(ckpt)), loss_options(ckpt), source,
                          run_test_metrics(path))
    name = name or Path(out_dir).resolve().name
    return write_detector_folder(out_dir, ckpt["model"], doc, model_card(doc, name), overwrite=overwrite)
