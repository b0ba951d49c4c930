"""The first check of any training recipe: the model and the engine drive the loss of one small fixed batch
close to zero. If this fails, nothing a longer run shows can be trusted."""

from __future__ import annotations

import pytest
import torch

from deepfake_ssat.config import load_config
from deepfake_ssat.engine import train_step
from deepfake_ssat.models import create_model
from deepfake_ssat.runtime import local_runtime
from deepfake_ssat.train import optimizer_and_schedule

STEPS = 300


@pytest.mark.parametrize("mode", ["scratch", "ssat"])
def test_a_small_video_model_fits_a_fixed_batch(mode):
    cfg = load_config(overrides=[
        "model.name=test_videomae", f"model.mode={mode}", "model.drop_path=0", "model.mask_ratio=0.5",
        "model.lambda_cls=0.5", "train.epochs=null", f"train.steps={STEPS}", "train.warmup_steps=10",
        "train.lr=2e-3", "train.layer_decay=null", "train.weight_decay=0"])
    torch.manual_seed(0)
    model = create_model(cfg.model, num_classes=2)
    x = torch.randn(8, 3, 4, 32, 32)  # 8 noise clips with arbitrary labels: only memorising fits them
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    optimizer, scheduler, _ = optimizer_and_schedule(cfg, model, world_size=1, per_epoch=1)
    rt = local_runtime("cpu")  # the machine's own default precision, as training runs
    model.train()
    first = cls = None
    for step in range(1, STEPS + 1):
        out = train_step(model, x, y, optimizer, rt)
        scheduler.step_update(step)
        cls = out["loss_cls"].item()
        first = cls if first is None else first
        if cls < 0.02:
            break
    assert first > 0.6  # it starts at chance (ln 2)
    assert cls < 0.02, f"classification loss {cls:.4f} after {step} steps"
    if mode == "ssat":
        assert out["loss_rec"].item() > 0  # the joint loss kept both terms
