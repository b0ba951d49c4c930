"""The training engine shared by images and video: ``train_step`` apart from the loop, ``fit``.

The engine only sees a model whose forward returns ``{"loss", "loss_cls", "loss_rec", "logits"}``
and a ``Task`` that supplies datasets, collation and a validation function, so it never needs to
know which auxiliary task is on or whether the inputs are images or clips.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import save_checkpoint
from .config import Config
from .configschema import to_dict
from .data.sampler import EpochSampler
from .models import SSATModel
from .runtime import Runtime, rng_state, seed_everything, set_rng_state

if TYPE_CHECKING:
    from .tasks import Task

log = logging.getLogger(__name__)

# Validation metrics shown in the epoch log line (all of them go to metrics.jsonl).
_SHOWN = ("top1", "loss", "loss_rec", "auc", "log_loss", "acc", "acc_at_threshold", "eer")

# Validation metrics where lower is better; every other metric is maximised.
LOWER_IS_BETTER = {"loss", "log_loss", "loss_rec", "eer"}


def selection_metric(cfg: Config) -> str:
    """The validation metric that picks `best`: ``eval.metric``, except that a ``pretrain`` run has no
    classifier and is selected by its reconstruction loss."""
    return "loss_rec" if cfg.model.mode == "pretrain" else cfg.eval.metric


def batches_per_epoch(dataset_size: int, batch_size: int, world_size: int) -> int:
    """Batches one rank takes per epoch (the sampler pads so every rank has the same number)."""
    return math.ceil(dataset_size / world_size) // batch_size


def steps_per_epoch(batches: int, accum_steps: int) -> int:
    """Optimiser steps per epoch: every ``accum_steps`` batches, and at the epoch's last batch."""
    return max(1, math.ceil(batches / accum_steps))


def budget(cfg: Config, per_epoch: int) -> tuple[int, int]:
    """(epochs, optimiser steps) the run trains: ``train.steps`` or ``train.epochs`` × ``per_epoch``."""
    t = cfg.train
    if t.steps is not None:
        return math.ceil(t.steps / per_epoch), t.steps
    return t.epochs, t.epochs * per_epoch


@dataclass
class TrainState:
    epoch: int = 0  # epoch in progress (or next to start)
    step: int = 0  # optimiser steps taken
    batch_in_epoch: int = 0  # batches of `epoch` already consumed (mid-epoch checkpoints)
    best_metric: float | None = None
    best_epoch: int | None = None
    threshold: float | None = None  # decision threshold of the latest validation (video), stored with weights
    wall_time: float = 0.0  # seconds spent training, summed over resumes
    stale_evals: int = 0  # validations in a row without a better selection metric (early stopping)
    stop_reason: str | None = None  # budget, patience or max_steps, once the run has ended
    history: list[dict[str, float]] = field(default_factory=list)


def unwrap(model: torch.nn.Module) -> SSATModel:
    return model.module if isinstance(model, DistributedDataParallel) else model  # type: ignore[return-value]


def train_step(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    scaler: torch.amp.GradScaler | None = None,
    accum_steps: int = 1,
    step_optimizer: bool = True,
    clip_grad: float | None = None,
    x_rec: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Forward + backward of one micro-batch; steps the optimiser when ``step_optimizer``.

    Returns detached loss tensors (no host sync here; the caller decides when to read them).
    """
    sync = step_optimizer or not isinstance(model, DistributedDataParallel)
    ctx = model.no_sync() if not sync else contextlib.nullcontext()  # no all-reduce on accumulation micro-steps
    with ctx:
        with runtime.autocast():
            out = model(x, y, x_rec=x_rec)
        loss = out["loss"] / accum_steps
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
    if step_optimizer:
        if clip_grad is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {k: out[k].detach() for k in ("loss", "loss_cls", "loss_rec")}


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if metric in LOWER_IS_BETTER else value > best


@dataclass
class FitContext:
    cfg: Config
    runtime: Runtime
    task: Task
    model: torch.nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    mixup: Callable | None
    out_dir: Path
    loss: dict[str, Any]  # num_classes, class_weights, label_smoothing: what the model was built with
    state: TrainState = field(default_factory=TrainState)


def make_train_loader(ctx: FitContext, sampler: EpochSampler, epoch: int) -> DataLoader:
    cfg = ctx.cfg
    g = torch.Generator().manual_seed(cfg.train.seed * 7919 + epoch)  # worker seeds fixed per epoch
    return DataLoader(
        ctx.task.train_set, batch_size=cfg.train.batch_size, sampler=sampler, num_workers=cfg.data.num_workers,
        collate_fn=ctx.task.collate, drop_last=True, pin_memory=ctx.runtime.device.type == "cuda",
        persistent_workers=False, generator=g,
    )


def checkpoint_payload(ctx: FitContext, metrics: dict[str, float] | None, full: bool) -> dict[str, Any]:
    model = unwrap(ctx.model)
    payload: dict[str, Any] = {
        "model": model.state_dict(),
        "arch": model.spec.to_dict(),
        "loss": ctx.loss,
        "config": to_dict(ctx.cfg),
        "data_config": {**model.data_config(), **ctx.task.checkpoint_extras(),
                        **({"threshold": ctx.state.threshold} if ctx.state.threshold is not None else {})},
        "metrics": metrics or {},
        "state": asdict(ctx.state),
    }
    if full:
        payload.update(
            optimizer=ctx.optimizer.state_dict(),
            scheduler=ctx.scheduler.state_dict(),
            scaler=ctx.scaler.state_dict() if ctx.scaler is not None else None,
            rng=rng_state(),
        )
    return payload


def restore(ctx: FitContext, ckpt: dict[str, Any]) -> None:
    unwrap(ctx.model).load_state_dict(ckpt["model"])
    ctx.optimizer.load_state_dict(ckpt["optimizer"])
    ctx.scheduler.load_state_dict(ckpt["scheduler"])
    if ctx.scaler is not None and ckpt.get("scaler") is not None:
        ctx.scaler.load_state_dict(ckpt["scaler"])
    ctx.state = TrainState(**ckpt["state"])
    if ckpt.get("rng") is not None:
        set_rng_state(ckpt["rng"])
    log.info("resumed at epoch %d, batch %d (step %d)", ctx.state.epoch, ctx.state.batch_in_epoch, ctx.state.step)


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def _patience_spent(cfg: Config, state: TrainState) -> bool:
    return cfg.train.patience is not None and state.stale_evals >= cfg.train.patience


def fit(ctx: FitContext, resumed_rng: bool = False) -> TrainState:
    """Run the rest of the budget from ``ctx.state``; writes last / best checkpoints and metrics.jsonl.

    Ends at the budget (``train.epochs`` or ``train.steps``), at ``train.max_steps``, or when validation has
    not improved ``train.patience`` times in a row; ``state.stop_reason`` says which.
    """
    cfg, rt, state = ctx.cfg, ctx.runtime, ctx.state
    tcfg = cfg.train
    metric = selection_metric(cfg)
    sampler = EpochSampler(len(ctx.task.train_set), rt.rank, rt.world_size, shuffle=True, seed=tcfg.seed,
                           weights=ctx.task.sample_weights)
    n_batches = batches_per_epoch(len(ctx.task.train_set), tcfg.batch_size, rt.world_size)
    if n_batches == 0:
        raise ValueError(f"training set too small for batch size {tcfg.batch_size} × {rt.world_size} processes")
    epochs, total_steps = budget(cfg, steps_per_epoch(n_batches, tcfg.accum_steps))
    step_limit = min(total_steps, tcfg.max_steps or total_steps)
    writer = _tensorboard(ctx.out_dir) if rt.is_main else None
    metrics_file = ctx.out_dir / "metrics.jsonl"
    while state.epoch < epochs and state.step < step_limit and not _patience_spent(cfg, state):
        epoch, start_batch = state.epoch, state.batch_in_epoch
        if not (resumed_rng and start_batch > 0):
            # Fresh epoch: reseed so an epoch's randomness depends only on (seed, epoch, rank).
            seed_everything(tcfg.seed * 1_000_003 + epoch * 101 + rt.rank)
        resumed_rng = False
        sampler.set_epoch(epoch, start=start_batch * tcfg.batch_size)
        loader = make_train_loader(ctx, sampler, epoch)
        ctx.model.train()
        t0, seen = time.perf_counter(), 0
        sums = torch.zeros(3, device=rt.device)
        n_logged = 0
        bar = tqdm(total=n_batches, initial=start_batch, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not rt.is_main or None, dynamic_ncols=True, leave=False)
        for i, (x, y) in enumerate(loader, start=start_batch):
            if i >= n_batches:
                break
            x = x.to(rt.device, non_blocking=True)
            y = y.to(rt.device, non_blocking=True)
            x_rec = None
            if ctx.mixup is not None:
                if not cfg.data.mixup_reconstruction:
                    x_rec = x.clone()  # timm's Mixup mixes in place
                x, y = ctx.mixup(x, y)
            step_now = (i + 1) % tcfg.accum_steps == 0 or i + 1 == n_batches
            losses = train_step(ctx.model, x, y, ctx.optimizer, rt, ctx.scaler, tcfg.accum_steps, step_now,
                                tcfg.clip_grad, x_rec=x_rec)
            if step_now:
                state.step += 1
                ctx.scheduler.step_update(state.step)
            sums += torch.stack([losses["loss"], losses["loss_cls"], losses["loss_rec"]]).float()
            n_logged += 1
            seen += x.shape[0]
            state.batch_in_epoch = i + 1
            bar.update(1)
            if (i + 1) % tcfg.log_every == 0 or i + 1 == n_batches:
                avg = (sums / n_logged).tolist()
                rate = seen * rt.world_size / max(time.perf_counter() - t0, 1e-9)
                lr_now = ctx.optimizer.param_groups[-1]["lr"]
                bar.set_postfix(loss=f"{avg[0]:.4f}", lr=f"{lr_now:.2e}", samples_s=f"{rate:.1f}")
                if bar.disable and rt.is_main:  # no terminal (nohup, CI, cluster logs): log progress instead
                    eta = (n_batches - i - 1) * tcfg.batch_size * rt.world_size / max(rate, 1e-9)
                    log.info("epoch %d batch %d/%d  loss %.4f  lr %.2e  %.1f samples/s  epoch ETA %.0fs",
                             epoch + 1, i + 1, n_batches, avg[0], lr_now, rate, eta)
                if writer is not None:
                    writer.add_scalar("train/loss", avg[0], state.step)
                    writer.add_scalar("train/lr", ctx.optimizer.param_groups[-1]["lr"], state.step)
            if tcfg.save_every_steps and step_now and state.step % tcfg.save_every_steps == 0 and rt.is_main:
                save_checkpoint(ctx.out_dir / "last.pt", checkpoint_payload(ctx, None, full=True))
            if state.step >= step_limit:
                break
        bar.close()
        elapsed = time.perf_counter() - t0
        state.wall_time += elapsed
        train_avg = (rt.reduce_sum(sums) / max(n_logged * rt.world_size, 1)).tolist()
        row: dict[str, Any] = {"epoch": epoch + 1, "step": state.step, "train_loss": train_avg[0],
                               "train_loss_cls": train_avg[1], "train_loss_rec": train_avg[2],
                               "lr": ctx.optimizer.param_groups[-1]["lr"], "epoch_time_s": elapsed,
                               "samples_per_s": seen * rt.world_size / max(elapsed, 1e-9)}
        last_epoch = state.epoch + 1 >= epochs or state.step >= step_limit
        val: dict[str, float] = {}
        if (epoch + 1) % cfg.eval.every_epochs == 0 or last_epoch:
            result = ctx.task.evaluate(unwrap(ctx.model), ctx.task.val_set, rt, cfg.eval.batch_size,
                                       cfg.data.num_workers)
            val, state.threshold = result.metrics, result.threshold
            row.update({f"val_{k}": v for k, v in val.items()})
        state.epoch += 1
        state.batch_in_epoch = 0
        state.history.append({k: v for k, v in row.items() if isinstance(v, (int, float))})
        improved = metric in val and is_better(metric, val[metric], state.best_metric)
        if improved:
            state.best_metric, state.best_epoch, state.stale_evals = val[metric], epoch + 1, 0
        elif metric in val:
            state.stale_evals += 1
        if rt.is_main:
            _append_jsonl(metrics_file, row)
            if writer is not None:
                for k, v in row.items():
                    writer.add_scalar(f"epoch/{k}", v, epoch + 1)
            shown = ("  val " + ", ".join(f"{k} {v:.4f}" for k, v in val.items() if k in _SHOWN) if val
                     else "  (no validation this epoch)")
            log.info("epoch %d/%d (step %d/%d)  train loss %.4f (cls %.4f, rec %.4f)%s  %.0fs, %.1f samples/s",
                     epoch + 1, epochs, state.step, total_steps, train_avg[0], train_avg[1], train_avg[2], shown,
                     elapsed, row["samples_per_s"])
            save_checkpoint(ctx.out_dir / "last.pt", checkpoint_payload(ctx, val, full=True))
            if improved:
                save_checkpoint(ctx.out_dir / "best.pt", checkpoint_payload(ctx, val, full=False))
                log.info("new best %s = %.4f (epoch %d)", metric, val[metric], epoch + 1)
            if not improved and metric in val and state.stale_evals == tcfg.patience:
                log.info("early stop at step %d (epoch %d): validation %s has not improved for %d validations; "
                         "best %.4f at epoch %d", state.step, epoch + 1, metric, state.stale_evals,
                         state.best_metric, state.best_epoch)
        rt.barrier()
    # why it ended (also for a run resumed after it had ended, with nothing left to train)
    state.stop_reason = ("budget" if state.step >= total_steps or state.epoch >= epochs else
                         "max_steps" if state.step >= step_limit else "patience")
    if writer is not None:
        writer.close()
    return state


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))
