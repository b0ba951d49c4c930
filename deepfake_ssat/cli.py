"""The ``deepfake-ssat`` command line: one console script with subcommands.

Every subcommand is a small function over the library; ``main(argv)`` is callable from tests.
Expected failures (bad config key, missing path, unusable checkpoint) end with a one-line
``error: …`` and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from .configschema import ConfigError, to_dict
from .models.convert import WeightLoadError

log = logging.getLogger("deepfake_ssat")

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A user mistake worth one line on stderr, not a traceback."""


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=[], metavar="PRESET_OR_YAML",
                   help="YAML preset under configs/ (e.g. image/cifar10) or a file; later ones win (repeatable)")
    _add_set(p)


# ---------------------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from .models import create_model, get_spec, list_models

    rows = []
    for name in list_models():
        spec = get_spec(name)
        with torch.device("meta"):  # parameter shapes without allocating or initialising weights
            m = create_model(name, mode="scratch", num_classes=2)
        n = sum(p.numel() for p in m.encoder.parameters()) / 1e6
        shape = (f"{spec.num_frames}×{spec.img_size}² tubelet {spec.tubelet}×{spec.patch_size}²"
                 if spec.kind == "video" else f"{spec.img_size}² patch {spec.patch_size}²")
        rows.append((name, spec.kind, f"{spec.embed_dim}/{spec.depth}/{spec.num_heads}", shape, f"{n:.1f}M"))
    _print_table(("model", "kind", "dim/depth/heads", "input", "encoder params"), rows)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .config import load_config

    cfg = load_config(*args.config, overrides=args.set)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


# Short flags of `train` → dotted config keys.
_TRAIN_FLAGS = {
    "dataset": "data.dataset", "data_root": "data.root", "model": "model.name", "mode": "model.mode",
    "mask": "model.mask_ratio", "epochs": "train.epochs", "batch_size": "train.batch_size",
    "output": "train.output_dir", "init": "model.init", "device": "train.device", "seed": "train.seed",
}


def _train_config(args: argparse.Namespace):
    from .config import PRESET_DIR, load_config

    layers = list(args.config)
    if not layers and args.dataset:
        # `--dataset cifar10` alone picks the preset of that name when there is one.
        for kind in ("video", "image"):
            if (PRESET_DIR / kind / f"{args.dataset}.yaml").is_file():
                layers.append(f"{kind}/{args.dataset}")
                break
    overrides = [f"{key}={getattr(args, flag)}" for flag, key in _TRAIN_FLAGS.items()
                 if getattr(args, flag, None) is not None]
    return load_config(*layers, overrides=overrides + list(args.set))


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    if args.resume is not None:
        from .checkpoint import read_checkpoint
        from .config import Config, load_config

        # The run's own config, with any --set on top (e.g. more epochs).
        run = args.resume or _train_config(args).train.output_dir
        saved = read_checkpoint(run)["config"]
        cfg = load_config(saved, *args.config, overrides=args.set)
        assert isinstance(cfg, Config)
        summary = train(cfg, resume=run)
    else:
        summary = train(_train_config(args))
    best = summary.get("best_value")
    sys.stdout.write(f"best {summary['best_metric']}: {best if best is None else round(best, 4)} "
                     f"(epoch {summary['best_epoch']}); run in {summary['output_dir']}\n")
    for key in ("test_best", "test_last"):
        if key in summary:
            sys.stdout.write(f"{key}: {json.dumps({k: round(v, 4) for k, v in summary[key].items()})}\n")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .configschema import parse_override, set_dotted
    from .train import evaluate_checkpoint

    overrides: dict = {}
    for text in args.set:
        path, value = parse_override(text)
        set_dotted(overrides, path, value)
    if args.dataset:
        set_dotted(overrides, ["data", "dataset"], args.dataset)
    if args.data_root:
        set_dotted(overrides, ["data", "root"], args.data_root)
    report = evaluate_checkpoint(args.checkpoint, split=args.split, overrides=overrides, device=args.device,
                                 methods=args.methods, out_dir=args.out)
    if "per_method" in report:
        from .evaluation import format_table

        sys.stdout.write(format_table(report) + "\n")
    else:
        _print_table(("metric", "value"), [(k, f"{v:.4f}") for k, v in report["overall"].items()])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def cmd_preprocess(args: argparse.Namespace) -> int:
    from preprocessing.cli import config_from_args, run_command
    from preprocessing.config import PreprocessConfig

    from .configschema import build, read_yaml

    layers = [read_yaml(p) for p in args.config]
    cfg = build(PreprocessConfig, *layers, config_from_args(args), overrides=args.set)
    return run_command(cfg)


def cmd_sample(args: argparse.Namespace) -> int:
    from preprocessing.sample import run_from_args

    return run_from_args(args)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    sys.stdout.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-ssat",
        description="Deepfake detection with ViTs trained jointly on classification and masked reconstruction (SSAT).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("config", help="print the resolved config (defaults ← presets ← --set)")
    _add_config(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("train", help="train a model (one CPU, one GPU, or many through torchrun)",
                       description="Train with a preset and overrides. Under torchrun every process runs this same "
                                   "command; rank 0 logs and writes checkpoints.")
    _add_config(p)
    p.add_argument("--dataset", help="dataset name; picks configs/{video,image}/NAME.yaml when no --config is given")
    p.add_argument("--data-root", help="dataset folder (data.root)")
    p.add_argument("--model", help="registered model name (see `deepfake-ssat models`)")
    p.add_argument("--mode", choices=["scratch", "ssat", "pretrain", "finetune"])
    p.add_argument("--mask", type=float, help="mask ratio, e.g. 0.75 or 0.95 (model.mask_ratio)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="per-process batch size")
    p.add_argument("--output", help="run folder (train.output_dir)")
    p.add_argument("--init", help="weights to start from: checkpoint file or hub id (model.init)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT_OR_RUN_DIR",
                   help="continue an interrupted run (its last.pt); without a value, the run folder of the config")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("preprocess", help="raw DFDC / FF++ / folder videos → face-track clips + manifest",
                       description="Detect, track and crop faces into clips plus manifest.jsonl. Resumable: rerun "
                                   "the same command to continue. Under torchrun each rank takes a share.")
    from preprocessing.cli import add_arguments as add_preprocess_arguments

    add_preprocess_arguments(p)
    p.add_argument("--config", action="append", default=[], metavar="YAML",
                   help="YAML file of preprocessing options (fields of PreprocessConfig)")
    _add_set(p)
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("sample", help="write a tiny sample dataset in the DFDC or FF++ layout (a pipeline check)")
    from preprocessing.sample import add_arguments as add_sample_arguments

    add_sample_arguments(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a split of its dataset")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--dataset", help="evaluate on another dataset than the training one (e.g. ffpp for zero-shot)")
    p.add_argument("--data-root", help="dataset folder (for video: the preprocess output with manifest.jsonl)")
    p.add_argument("--methods", nargs="+", help="video: only these methods ('real' for real videos)")
    p.add_argument("--out", help="video: folder for predictions.csv and metrics.json")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    _add_set(p)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UsageError, FileNotFoundError, WeightLoadError, ValueError) as e:
        if args.verbose:
            raise
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
