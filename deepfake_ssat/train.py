"""``train(cfg)`` and ``evaluate_checkpoint(path)``: the library entry points behind the CLI."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import model_from_checkpoint, read_checkpoint
from .config import Config, save_config
from .configschema import from_dict
from .engine import FitContext, fit
from .models import SSATModel, create_model, get_spec
from .models.convert import load_weights
from .runtime import Runtime, seed_everything, setup_runtime, shutdown
from .tasks import build_task

log = logging.getLogger(__name__)


def model_kwargs(cfg: Config, num_classes: int) -> dict[str, Any]:
    m = cfg.model
    return {
        "mode": m.mode, "num_classes": num_classes, "mask_ratio": m.mask_ratio, "lambda_cls": m.lambda_cls,
        "target_norm": m.target_norm, "drop_path": m.drop_path, "grad_checkpointing": m.grad_checkpointing,
        "decoder_keep_ratio": m.decoder_keep_ratio, "label_smoothing": cfg.train.label_smoothing,
        "class_weights": cfg.train.class_weights,
    }


def arch_overrides(cfg: Config) -> dict[str, Any]:
    m = cfg.model
    return {k: getattr(m, k) for k in ("img_size", "patch_size", "num_frames", "global_pool", "decoder_depth",
                                       "decoder_dim", "decoder_heads")}


def build_model(cfg: Config, task, mixup_on: bool) -> tuple[SSATModel, dict[str, Any]]:
    kwargs = model_kwargs(cfg, task.num_classes)
    if mixup_on:
        kwargs["label_smoothing"] = 0.0  # timm's Mixup already smooths its soft targets
    model = create_model(cfg.model.name, mean=tuple(task.mean), std=tuple(task.std), **arch_overrides(cfg), **kwargs)
    if cfg.model.init:
        load_weights(model, cfg.model.init)
    return model, kwargs


def _mixup(cfg: Config, num_classes: int):
    d = cfg.data
    if cfg.model.mode == "pretrain" or (d.mixup <= 0 and d.cutmix <= 0) or d.mixup_prob <= 0:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=d.mixup, cutmix_alpha=d.cutmix, prob=d.mixup_prob, switch_prob=0.5, mode="batch",
                 label_smoothing=cfg.train.label_smoothing, num_classes=num_classes)


def _optimizer_and_schedule(cfg: Config, model: SSATModel, runtime: Runtime, steps_per_epoch: int):
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    t = cfg.train
    lr = t.lr
    if t.lr_base_batch:
        lr = t.lr * t.batch_size * t.accum_steps * runtime.world_size / t.lr_base_batch
    optimizer = create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=t.weight_decay, betas=tuple(t.betas),
                                    layer_decay=t.layer_decay)
    total = max(1, t.epochs * steps_per_epoch)
    scheduler = CosineLRScheduler(optimizer, t_initial=total, lr_min=t.min_lr,
                                  warmup_t=int(round(t.warmup_epochs * steps_per_epoch)), warmup_lr_init=t.min_lr,
                                  warmup_prefix=True, t_in_epochs=False)
    return optimizer, scheduler, lr


def train(cfg: Config, resume: str | Path | None = None) -> dict[str, Any]:
    """Train (or continue) one run; returns a summary with the best validation metric and test metrics."""
    runtime = setup_runtime(cfg.train.device, cfg.train.precision)
    try:
        return _train(cfg, runtime, resume)
    finally:
        shutdown(runtime)


def _train(cfg: Config, runtime: Runtime, resume: str | Path | None) -> dict[str, Any]:
    out_dir = Path(cfg.train.output_dir)
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(Path(resume) if str(resume) else out_dir)
        saved = from_dict(Config, ckpt["config"])
        if saved.model != cfg.model:
            raise ValueError("cannot resume: the model section differs from the checkpoint's "
                             "(resume with the run's config.yaml, changing only train/eval values)")
        if saved.data != cfg.data:
            log.warning("resuming with a different data section than the checkpoint's")
    seed_everything(cfg.train.seed)  # model initialisation depends only on the seed
    spec = get_spec(cfg.model.name, **{k: v for k, v in arch_overrides(cfg).items() if v is not None})
    task = build_task(cfg, spec.img_size)
    mixup = _mixup(cfg, task.num_classes)
    model, kwargs = build_model(cfg, task, mixup is not None)
    model.to(runtime.device)
    if cfg.model.mode == "pretrain" and cfg.eval.metric not in ("loss_rec",):
        log.info("pretrain mode has no classifier: selecting checkpoints by validation loss_rec")
        cfg.eval.metric = "loss_rec"
    world_batch = cfg.train.batch_size * runtime.world_size
    steps_per_epoch = max(1, (len(task.train_set) // world_batch) // cfg.train.accum_steps)
    optimizer, scheduler, lr = _optimizer_and_schedule(cfg, model, runtime, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda") if runtime.amp_dtype == torch.float16 else None
    wrapped = (DistributedDataParallel(model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)
               if runtime.distributed else model)
    ctx = FitContext(cfg, runtime, task, wrapped, optimizer, scheduler, scaler, mixup, out_dir, kwargs)
    if ckpt is not None:
        ctx.state.epoch = 0
        from .engine import restore

        restore(ctx, ckpt)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml")
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        log.info("%s (%s, %.1fM params) on %s ×%d, %d train / %d val samples, lr %.2e, %d steps/epoch → %s",
                 cfg.model.name, cfg.model.mode, n_params, runtime.device, runtime.world_size, len(task.train_set),
                 len(task.val_set), lr, steps_per_epoch, out_dir)
    start = time.perf_counter()
    state = fit(ctx, resumed_rng=ckpt is not None)
    summary: dict[str, Any] = {
        "output_dir": str(out_dir), "epochs": state.epoch, "steps": state.step,
        "best_metric": cfg.eval.metric, "best_value": state.best_metric, "best_epoch": state.best_epoch,
        "wall_time_s": state.wall_time, "device": str(runtime.device), "world_size": runtime.world_size,
        "device_hours": state.wall_time * runtime.world_size / 3600,
        "this_session_s": time.perf_counter() - start,
    }
    test_set = getattr(task, "test_set", None)
    if test_set is not None and (out_dir / "best.pt").is_file():
        runtime.barrier()
        best = model_from_checkpoint(read_checkpoint(out_dir / "best.pt"), with_decoder=model.uses_reconstruction)
        best.to(runtime.device)
        summary["test_best"] = task.evaluate(best, test_set, runtime, cfg.eval.batch_size, cfg.data.num_workers)
        summary["test_last"] = task.evaluate(model, test_set, runtime, cfg.eval.batch_size, cfg.data.num_workers)
    if runtime.is_main:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        log.info("done: %s", json.dumps({k: v for k, v in summary.items() if k.startswith(("best", "test"))}))
    return summary


def evaluate_checkpoint(path: str | Path, split: str = "test", overrides: dict[str, Any] | None = None,
                        device: str = "auto") -> dict[str, float]:
    """Evaluate a checkpoint on a split of the dataset it was trained on (or of ``overrides['data']``)."""
    ckpt = read_checkpoint(path)
    cfg_dict = ckpt["config"]
    if overrides:
        from .configschema import merge

        cfg_dict = merge(cfg_dict, overrides)
    cfg = from_dict(Config, cfg_dict)
    runtime = setup_runtime(device, "auto" if device != "cpu" else "fp32")
    try:
        model = model_from_checkpoint(ckpt, with_decoder=False).to(runtime.device)
        task = build_task(cfg, model.spec.img_size)
        if task.num_classes != model.num_classes:
            raise ValueError(f"checkpoint has {model.num_classes} classes but dataset {cfg.data.dataset} has "
                             f"{task.num_classes}: it was trained on another dataset")
        dataset = {"train": task.train_set, "val": task.val_set, "test": getattr(task, "test_set", None)}[split]
        if dataset is None:
            raise ValueError(f"dataset {cfg.data.dataset} has no {split} split")
        return task.evaluate(model, dataset, runtime, cfg.eval.batch_size, cfg.data.num_workers)
    finally:
        shutdown(runtime)
