"""How SSAT's loss shares the encoder between classification and reconstruction.

On training batches of a configuration (at initialisation) or of a trained run's checkpoint, prints
for each reconstruction target the norms of the encoder gradients of λ·L_cls and (1 − λ)·L_rec, their
ratio and cosine — same weights, batches and masks for every target:

    python benchmarks/gradient_share.py --config image/fashion_mnist_limited
    python benchmarks/gradient_share.py --checkpoint runs/fashion_mnist_limited/last.pt --batches 16
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch
from torch.utils.data import DataLoader

from deepfake_ssat.checkpoint import model_from_checkpoint, read_checkpoint
from deepfake_ssat.config import load_config
from deepfake_ssat.diagnostics import gradient_share, share_table
from deepfake_ssat.runtime import seed_everything
from deepfake_ssat.tasks import build_task
from deepfake_ssat.train import arch_spec, build_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", default=[], help="preset or YAML (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint", help="a run's best.pt/last.pt (its config and weights; mode ssat or pretrain)")
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--targets", nargs="+", default=["none", "input", "norm_pix"])
    args = p.parse_args(argv)

    torch.set_grad_enabled(True)
    if args.checkpoint:
        ckpt = read_checkpoint(args.checkpoint)
        cfg = load_config(ckpt["config"], overrides=args.set)
        model = model_from_checkpoint(ckpt, with_decoder=True)
        spec = model.spec
    else:
        cfg = load_config(*(args.config or ["image/fashion_mnist_limited"]), overrides=args.set)
        if cfg.model.mode not in ("ssat", "pretrain"):
            cfg.model.mode = "ssat"
        seed_everything(cfg.train.seed)
        spec = arch_spec(cfg)
        model = None
    task = build_task(cfg, spec)
    if model is None:
        model, _ = build_model(cfg, task, mixup_on=False)
    loader = DataLoader(task.train_set, batch_size=cfg.train.batch_size, shuffle=True, collate_fn=task.collate,
                        generator=torch.Generator().manual_seed(cfg.train.seed))
    batches = list(itertools.islice(loader, args.batches))
    rows = gradient_share(model, batches, args.targets, seed=cfg.train.seed)
    where = args.checkpoint or "initialisation"
    sys.stdout.write(f"{cfg.model.name} ({where}), λ = {model.lambda_cls:g}, mask {model.mask_ratio:g}, "
                     f"{len(batches)} batches of {cfg.train.batch_size}\n\n{share_table(rows, model.lambda_cls)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
