"""``train(cfg)`` and ``evaluate_checkpoint(path)``: the library entry points behind the CLI."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import model_from_checkpoint, read_checkpoint
from .config import Config, save_config
from .configschema import from_dict
from .engine import FitContext, batches_per_epoch, budget, fit, restore, selection_metric, steps_per_epoch
from .models import SSATModel, arch_overrides, create_model, get_spec
from .models.convert import load_weights
from .runtime import Runtime, machine_name, seed_everything, setup_runtime, shutdown
from .tasks import build_task

log = logging.getLogger(__name__)


def arch_spec(cfg: Config):
    """The registry's ArchSpec of ``cfg.model.name`` with the config's size overrides applied."""
    return get_spec(cfg.model.name, **arch_overrides(cfg.model))


def build_model(cfg: Config, task, mixup_on: bool) -> tuple[SSATModel, dict[str, Any]]:
    """The model of ``cfg.model`` for ``task``'s data; returns it with the loss options the checkpoint
    records (classes, class weights, label smoothing)."""
    loss = {"num_classes": task.num_classes, "class_weights": cfg.train.class_weights,
            "label_smoothing": cfg.train.label_smoothing}
    if cfg.train.real_weight is not None:
        loss["class_weights"] = task.class_weights(cfg.train.real_weight)
    if mixup_on:
        loss["label_smoothing"] = 0.0  # timm's Mixup already smooths its soft targets
    model = create_model(cfg.model, mean=task.mean, std=task.std, **loss)
    if cfg.model.init:
        load_weights(model, cfg.model.init)
    return model, loss


def _mixup(cfg: Config, task):
    d = cfg.data
    if task.kind != "image" or cfg.model.mode == "pretrain" or (d.mixup <= 0 and d.cutmix <= 0) or d.mixup_prob <= 0:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=d.mixup, cutmix_alpha=d.cutmix, prob=d.mixup_prob, switch_prob=0.5, mode="batch",
                 label_smoothing=cfg.train.label_smoothing, num_classes=task.num_classes)


def optimizer_and_schedule(cfg: Config, model: SSATModel, world_size: int, per_epoch: int):
    """AdamW (layer decay, no decay on norms/biases/tokens) and a per-step schedule: linear warmup from
    ``min_lr``, then a half cosine that reaches ``min_lr`` at the budget's last step (as MAE's ``lr_sched``).
    ``per_epoch``: optimiser steps per epoch."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    t = cfg.train
    lr = t.lr
    if t.lr_base_batch:
        lr = t.lr * t.batch_size * t.accum_steps * world_size / t.lr_base_batch
    optimizer = create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=t.weight_decay, betas=tuple(t.betas),
                                    layer_decay=t.layer_decay)
    total = max(1, budget(cfg, per_epoch)[1])
    warmup = t.warmup_steps if t.warmup_steps is not None else int(round(t.warmup_epochs * per_epoch))
    warmup = min(warmup, total - 1)
    # warmup_prefix: the cosine starts after warmup, so it must span only the steps that remain.
    scheduler = CosineLRScheduler(optimizer, t_initial=total - warmup, lr_min=t.min_lr, warmup_t=warmup,
                                  warmup_lr_init=t.min_lr, warmup_prefix=True, t_in_epochs=False)
    return optimizer, scheduler, lr


def train(cfg: Config, resume: str | Path | None = None, task_check: Callable[[Any], None] | None = None
          ) -> dict[str, Any]:
    """Train (or continue) one run; returns a summary with the best validation metric and test metrics.

    ``task_check(task)`` runs once the datasets are built, before any training (protocol guards).
    """
    runtime = setup_runtime(cfg.train.device, cfg.train.precision)
    try:
        return _train(cfg, runtime, resume, task_check)
    finally:
        shutdown(runtime)


def _train(cfg: Config, runtime: Runtime, resume: str | Path | None, task_check=None) -> dict[str, Any]:
    out_dir = Path(cfg.train.output_dir)
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(Path(resume) if str(resume) else out_dir)
        if "optimizer" not in ckpt:  # best.pt and detector folders carry the weights, not the training state
            raise ValueError(f"cannot resume from {resume or out_dir}: it holds no optimiser state; give the run "
                             "folder or its last.pt")
        saved = from_dict(Config, ckpt["config"])
        if saved.model != cfg.model:
            raise ValueError("cannot resume: the model section differs from the checkpoint's "
                             "(resume with the run's config.yaml, changing only train/eval values)")
        if saved.data != cfg.data:
            log.warning("resuming with a different data section than the checkpoint's")
    seed_everything(cfg.train.seed)  # model initialisation depends only on the seed
    spec = arch_spec(cfg)
    task = build_task(cfg, spec)
    if task_check is not None:
        task_check(task)
    mixup = _mixup(cfg, task)
    model, loss = build_model(cfg, task, mixup is not None)
    model.to(runtime.device)
    if cfg.train.compile:
        model.compile()  # in place: parameter names, DDP and checkpoints see the plain module
    metric = selection_metric(cfg)
    if metric != cfg.eval.metric:
        log.info("pretrain mode has no classifier: selecting checkpoints by validation %s", metric)
    per_epoch = steps_per_epoch(batches_per_epoch(len(task.train_set), cfg.train.batch_size, runtime.world_size),
                                cfg.train.accum_steps)
    optimizer, scheduler, lr = optimizer_and_schedule(cfg, model, runtime.world_size, per_epoch)
    scaler = torch.amp.GradScaler("cuda") if runtime.amp_dtype == torch.float16 else None
    device_ids = [runtime.local_rank] if runtime.device.type == "cuda" else None
    wrapped = DistributedDataParallel(model, device_ids=device_ids) if runtime.distributed else model
    ctx = FitContext(cfg, runtime, task, wrapped, optimizer, scheduler, scaler, mixup, out_dir, loss)
    if ckpt is not None:
        restore(ctx, ckpt)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml")
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        epochs, steps = budget(cfg, per_epoch)
        log.info("%s (%s, %.1fM params) on %s ×%d in %s, %d train / %d val samples, lr %.2e, budget %d steps "
                 "(%d epochs of %d) → %s", cfg.model.name, cfg.model.mode, n_params, runtime.device,
                 runtime.world_size, runtime.precision_name, len(task.train_set), len(task.val_set), lr, steps,
                 epochs, per_epoch, out_dir)
    start = time.perf_counter()
    carbon = _carbon_tracker(out_dir) if runtime.is_main else None
    state = fit(ctx, resumed_rng=ckpt is not None)
    emissions = carbon.stop() if carbon is not None else None
    summary: dict[str, Any] = {
        "output_dir": str(out_dir), "epochs": state.epoch, "steps": state.step, "stop_reason": state.stop_reason,
        "best_step": _step_of(state, state.best_epoch),
        "best_metric": metric, "best_value": state.best_metric, "best_epoch": state.best_epoch,
        "wall_time_s": state.wall_time, "device": str(runtime.device), "world_size": runtime.world_size,
        "precision": runtime.precision_name, "machine": machine_name(runtime.device),
        "device_hours": state.wall_time * runtime.world_size / 3600,
        "this_session_s": time.perf_counter() - start,
    }
    if emissions is not None:
        summary["co2_kg_this_session"] = emissions
    if cfg.eval.test_at_end and task.test_set is not None and (out_dir / "best.pt").is_file():
        runtime.barrier()
        best_ckpt = read_checkpoint(out_dir / "best.pt")
        best = model_from_checkpoint(best_ckpt, with_decoder=model.uses_reconstruction).to(runtime.device)
        bs, nw = cfg.eval.batch_size, cfg.data.num_workers
        # each checkpoint is tested at its own validation threshold
        summary["test_best"] = task.evaluate(best, task.test_set, runtime, bs, nw,
                                             threshold=best_ckpt["data_config"].get("threshold")).metrics
        if state.best_epoch == state.epoch:  # best.pt holds the final weights: the same numbers
            summary["test_last"] = dict(summary["test_best"])
        else:
            summary["test_last"] = task.evaluate(model, task.test_set, runtime, bs, nw,
                                                 threshold=state.threshold).metrics
    if runtime.is_main:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        try:
            from .figures import training_curves

            training_curves(out_dir)
        except Exception:  # a figure must never cost a finished run
            log.warning("could not draw %s/curves.png", out_dir, exc_info=True)
        log.info("done: %s", json.dumps({k: v for k, v in summary.items() if k.startswith(("best", "test"))}))
    return summary


def _step_of(state, epoch: int | None) -> int | None:
    """The optimiser step at the end of ``epoch`` (from the run's history)."""
    return next((int(h["step"]) for h in state.history if h.get("epoch") == epoch), None)


def _carbon_tracker(out_dir: Path):
    """CO2 estimate through codecarbon when it is installed (optional; never required)."""
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        return None
    tracker = OfflineEmissionsTracker(output_dir=str(out_dir), log_level="error", country_iso_code="USA")
    tracker.start()
    return tracker


def evaluate_checkpoint(path: str | Path, split: str = "test", overrides: dict[str, Any] | None = None,
                        device: str = "auto", methods: list[str] | None = None,
                        out_dir: str | Path | None = None, int8: bool = False, precision: str = "auto"
                        ) -> dict[str, Any]:
    """Evaluate a checkpoint on a split of its dataset (or of the dataset given in ``overrides``).

    Returns ``{"overall": metrics, ...}``; for video also per-method metrics, unscored videos and fakes
    against their originals, and with ``out_dir`` writes predictions.csv and metrics.json there.
    ``precision``: auto (bf16 where the GPU or CPU has it natively), fp32 or bf16.
    """
    from .configschema import merge

    ckpt = read_checkpoint(path)
    cfg = from_dict(Config, merge(ckpt["config"], overrides or {}))
    runtime = setup_runtime(device, "fp32" if int8 else precision)  # int8: fp32 activations
    try:
        model = model_from_checkpoint(ckpt, with_decoder=False).to(runtime.device)
        if int8:
            from .models.quantize import int8_dynamic

            model = int8_dynamic(model)
        task = build_task(cfg, model.spec, training=False)
        if task.num_classes != model.num_classes:
            raise ValueError(f"checkpoint has {model.num_classes} classes but dataset {cfg.data.dataset} has "
                             f"{task.num_classes}: it was trained on another dataset")
        task.check_checkpoint(ckpt["data_config"])
        return task.report(model, split, runtime, cfg.eval.batch_size, cfg.data.num_workers,
                           threshold=ckpt["data_config"].get("threshold"), methods=methods,
                           out_dir=Path(out_dir) if out_dir is not None else None)
    finally:
        shutdown(runtime)
