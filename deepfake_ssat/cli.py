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
from typing import Any

import yaml

from .configschema import ConfigError, Shortcut, add_shortcuts, shortcut_overrides, to_dict

log = logging.getLogger("deepfake_ssat")

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A user mistake worth one line on stderr, not a traceback."""


def _add_set(p: argparse.ArgumentParser, example: str = "train.epochs=5") -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config value, e.g. --set {example} (repeatable)")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=[], metavar="PRESET_OR_YAML",
                   help="a preset of deepfake_ssat/configs/ (e.g. image/cifar10) or a YAML file; later ones win "
                        "(repeatable)")
    _add_set(p)


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 on GPUs and on CPUs with native bf16 units (AMX, AVX512-BF16), else fp32")


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords that end a command's --help with real examples (tests parse each one)."""
    return {"epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
            "formatter_class": argparse.RawDescriptionHelpFormatter}


CHECKPOINT_HELP = ("a run's best.pt or last.pt (a run folder means last.pt), an exported detector folder, or the "
                   "Hugging Face hub id of one")

# The examples of each command's --help; tests/test_cli.py parses every one of them.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "models": ("deepfake-ssat models",),
    "config": ("deepfake-ssat config --config video/dfdc",
               "deepfake-ssat config --config image/cifar10 --set train.epochs=5 --set model.mode=scratch"),
    "train": ("deepfake-ssat train --dataset dfdc --mask 0.95",
              "deepfake-ssat train --config video/sample --data-root data/sample_dfdc_faces --steps 200",
              "deepfake-ssat train --resume runs/dfdc_videomae_base_ssat"),
    "preprocess": ("deepfake-ssat preprocess --dataset dfdc --root /data/dfdc --out data/dfdc_faces",
                   "deepfake-ssat preprocess --dataset folder --root my_videos --csv videos.csv --out data/mine "
                   "--test-fraction 0.2",
                   "deepfake-ssat preprocess --dataset ffpp --root /data/ffpp --out data/ffpp_faces "
                   "--set faces.detector.every=10"),
    "sample": ("deepfake-ssat sample --layout dfdc --out data/sample_dfdc",
               "deepfake-ssat sample --layout ffpp --out data/sample_ffpp --videos 12 --frames 48"),
    "eval": ("deepfake-ssat eval --checkpoint runs/dfdc/best.pt --out runs/dfdc_eval",
             "deepfake-ssat eval --checkpoint runs/dfdc/best.pt --dataset ffpp --data-root data/ffpp_faces "
             "--methods real Deepfakes --set eval.batch_size=32"),
    "plot": ("deepfake-ssat plot runs/dfdc_videomae_base_ssat", "deepfake-ssat plot runs/limited/*_s0"),
    "export": ("deepfake-ssat export runs/dfdc/best.pt detectors/dfdc-videomae-ssat",
               "deepfake-ssat export runs/dfdc/best.pt detectors/dfdc --name dfdc-videomae-ssat --overwrite"),
    "predict": ("deepfake-ssat predict clip.mp4 --checkpoint runs/dfdc/best.pt",
                "deepfake-ssat predict videos/ --checkpoint runs/dfdc/best.pt --json results.json --max-segments 0",
                "deepfake-ssat predict /data/uploads --checkpoint detectors/dfdc --out results.jsonl --workers 2"),
}


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


# Shortcut flags → dotted config keys: the one table of them. A flag is exactly `--set KEY=VALUE` (parsed and
# checked by the config like any override); its choices come from the schema.
_DATA_ROOT: Shortcut = ("--data-root", "data.root", "dataset folder; for video the preprocess output (manifest.jsonl)")
_EVAL_FLAGS: tuple[Shortcut, ...] = (
    ("--dataset", "data.dataset", "evaluate on another dataset than the training one (e.g. ffpp for zero-shot)"),
    _DATA_ROOT,
)
_TRAIN_FLAGS: tuple[Shortcut, ...] = (
    ("--dataset", "data.dataset", "dataset name; alone (no --config) it picks the preset video/NAME or image/NAME"),
    _DATA_ROOT,
    ("--model", "model.name", "registered model name (see `deepfake-ssat models`)"),
    ("--mode", "model.mode", "what to train"),
    ("--mask", "model.mask_ratio", "mask ratio, e.g. 0.75 or 0.95"),
    ("--epochs", "train.epochs", "budget in epochs (presets that give train.steps: add --set train.steps=null)"),
    ("--steps", "train.steps", "budget in optimiser steps (presets that give train.epochs: add --set "
                               "train.epochs=null)"),
    ("--batch-size", "train.batch_size", "per-process batch size"),
    ("--output", "train.output_dir", "run folder"),
    ("--init", "model.init", "weights to start from: checkpoint file or hub id"),
    ("--device", "train.device", "auto, cpu, cuda, cuda:1, mps"),
    ("--seed", "train.seed", "seed of initialisation, data order and augmentation"),
)


def _train_config(args: argparse.Namespace):
    from .config import PRESET_DIR, load_config

    layers = list(args.config)
    dataset = vars(args).get("data.dataset")
    if not layers and dataset:
        # `--dataset cifar10` alone picks the preset of that name when there is one.
        for kind in ("video", "image"):
            if (PRESET_DIR / kind / f"{dataset}.yaml").is_file():
                layers.append(f"{kind}/{dataset}")
                break
    return load_config(*layers, overrides=[*shortcut_overrides(args, _TRAIN_FLAGS), *args.set])


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume is not None:
        from .checkpoint import read_checkpoint
        from .config import load_config
        from .train import train

        # The run's own config, with any --set on top (e.g. more epochs).
        run = args.resume or _train_config(args).train.output_dir
        saved = read_checkpoint(run)["config"]
        cfg = load_config(saved, *args.config, overrides=args.set)
        summary = train(cfg, resume=run)
    else:
        cfg = _train_config(args)  # a config error answers before torch is imported
        from .train import train

        summary = train(cfg)
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
    for item in [*shortcut_overrides(args, _EVAL_FLAGS), *args.set]:
        set_dotted(overrides, *parse_override(item))
    report = evaluate_checkpoint(args.checkpoint, split=args.split, overrides=overrides, device=args.device,
                                 methods=args.methods, out_dir=args.out, int8=args.int8, precision=args.precision)
    if "per_method" in report:
        from .evaluation import format_table

        sys.stdout.write(format_table(report) + "\n")
    else:
        _print_table(("metric", "value"), [(k, f"{v:.4f}") for k, v in report["overall"].items()])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .figures import training_curves

    for run in args.runs:
        sys.stdout.write(f"wrote {training_curves(run)}\n")
    return 0


def cmd_preprocess(args: argparse.Namespace) -> int:
    from preprocessing.cli import config_from_args, run_command
    from preprocessing.config import PreprocessConfig

    from .configschema import build, read_yaml

    layers = [read_yaml(p) for p in args.config]
    cfg = build(PreprocessConfig, *layers, config_from_args(args), overrides=args.set)
    return run_command(cfg)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_detector

    out = export_detector(args.checkpoint, args.out, name=args.name, overwrite=args.overwrite)
    sys.stdout.write(f"wrote {out}: model.safetensors, config.json, README.md (the model card)\n")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    sys.stdout.write(args.run_benchmark(args) + "\n")  # each protocol's run_from_args returns its table
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from preprocessing.sample import run_from_args

    return run_from_args(args)


def cmd_predict(args: argparse.Namespace) -> int:
    import time

    from preprocessing.ranks import dist_env
    from preprocessing.video import find_videos

    from .inference import Prediction, PredictOptions, Predictor, format_table
    from .inference.folder import score_videos
    from .inference.output import ShardedResults, summary_lines

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(f"--timeout must be > 0 seconds, got {args.timeout}")
    rank, world = dist_env()
    if world > 1 and not args.out:
        raise ValueError(f"predict under torchrun ({world} ranks) needs --out RESULTS.jsonl|.csv: each rank "
                         "writes its part and rank 0 merges them")
    videos = find_videos(args.videos)
    if not videos:
        raise FileNotFoundError(f"no video files in {', '.join(args.videos)}")
    mine = videos[rank::world]
    out = ShardedResults(args.out, rank, world) if args.out else None  # a bad --out answers before the model loads
    todo = [v for v in mine if out is None or v not in out]
    opts = PredictOptions(batch_size=args.batch_size, max_segments_per_track=args.max_segments or None,
                          int8=args.int8, precision=args.precision)
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, options=opts)
    if out is not None:
        out.begin()
    if world > 1:
        log.info("rank %d/%d: %d of %d videos, %d to do", rank, world, len(mine), len(videos), len(todo))
    start = time.perf_counter()
    results = score_videos(predictor, todo, out, workers=args.workers, timeout=args.timeout, quiet=args.quiet)
    seconds = time.perf_counter() - start
    if out is not None:
        total = out.finish()
        sys.stdout.write("\n".join(summary_lines(results, len(mine) - len(todo), total, seconds, out.out)) + "\n")
    else:
        _print_table(("file", "verdict", "fake prob", "tracks", "segments", "seconds", "note"), format_table(results))
    ok = [r for r in results if isinstance(r, Prediction)]
    info = predictor.describe()
    sys.stdout.write(f"{len(ok)} of {len(results)} files scored with {predictor.name} "
                     f"(threshold {predictor.threshold:.3f})\n"
                     f"detector card: {info['trained_on']}; {info['caveat']}\n")
    if args.json:
        doc = {"checkpoint": predictor.describe(),
               "results": [r.to_dict() if isinstance(r, Prediction) else {"path": r[0], "error": r[1]}
                           for r in results]}
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0 if ok or (out is not None and not todo) else 1




def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from .tables import text_table

    sys.stdout.write(text_table(header, rows) + "\n")


# ---------------------------------------------------------------------------------------------
def build_parser(extra_commands: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    """The parser of every library command; each of ``extra_commands`` adds its own subcommands to the
    subparsers object (the console script adds ``demo`` this way, so this layer never imports ``app``)."""
    parser = argparse.ArgumentParser(
        prog="deepfake-ssat",
        description="Deepfake detection with ViTs trained jointly on classification and masked reconstruction (SSAT).",
    )
    from .config import Config

    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list the registered models", **examples(*EXAMPLES["models"]))
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("config", help="print the resolved config (defaults ← presets ← --set)",
                       **examples(*EXAMPLES["config"]))
    _add_config(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("train", help="train a model (one CPU, one GPU, or many through torchrun)",
                       description="Train with a preset and overrides. Under torchrun every process runs this same "
                                   "command; rank 0 logs and writes checkpoints.", **examples(*EXAMPLES["train"]))
    _add_config(p)
    add_shortcuts(p, Config, _TRAIN_FLAGS)
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT_OR_RUN_DIR",
                   help="continue an interrupted run (its last.pt); without a value, the run folder of the config")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("preprocess", help="raw DFDC / FF++ / folder videos → face-track clips + manifest",
                       description="Detect, track and crop faces into clips plus manifest.jsonl. Resumable: rerun "
                                   "the same command to continue. Under torchrun each rank takes a share.",
                       **examples(*EXAMPLES["preprocess"]))
    from preprocessing.cli import add_arguments as add_preprocess_arguments

    add_preprocess_arguments(p)
    p.add_argument("--config", action="append", default=[], metavar="YAML",
                   help="YAML file of preprocessing options (fields of PreprocessConfig)")
    _add_set(p, "faces.detector.every=10")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("sample", help="write a tiny sample dataset in the DFDC or FF++ layout (a pipeline check)",
                       **examples(*EXAMPLES["sample"]))
    from preprocessing.sample import add_arguments as add_sample_arguments

    add_sample_arguments(p)
    p.set_defaults(func=cmd_sample)

    from .protocols import PROTOCOLS, get_protocol

    p = sub.add_parser("benchmark", help="evaluation protocols that print a table: leave-one-method-out, FF++ "
                                         "cross-manipulation (Table 8), image limited-data",
                       description="Each protocol trains and tests several runs and prints one table; "
                                   "`deepfake-ssat benchmark PROTOCOL --help` tells its options.",
                       **examples(*(get_protocol(name).EXAMPLES[0] for name in PROTOCOLS)))
    protocols = p.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")

    for name in PROTOCOLS:
        module = get_protocol(name)
        q = protocols.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                                 **examples(*module.EXAMPLES))
        module.add_arguments(q)
        q.set_defaults(func=cmd_benchmark, run_benchmark=module.run_from_args)

    p = sub.add_parser("plot", help="draw a run's training curves (losses and validation metrics) into curves.png",
                       description="Redraw RUN/curves.png from RUN/metrics.jsonl (train writes it when it ends; "
                                   "this draws it for a run still going or interrupted).",
                       **examples(*EXAMPLES["plot"]))
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (train.output_dir)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("export", help="a checkpoint → a detector folder to share: model.safetensors, config.json, "
                                      "README.md (model card)",
                       description="Write the weights as safetensors, the architecture, preprocessing, threshold and "
                                   "metrics as config.json, and a model card built from the detector card. The "
                                   "folder (or a Hugging Face hub repository holding it) loads wherever a checkpoint "
                                   "does (--checkpoint, model.init, the demo), and nothing in it is unpickled.",
                       **examples(*EXAMPLES["export"]))
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's best.pt or last.pt (a run folder means last.pt)")
    p.add_argument("out", metavar="DIR", help="the detector folder to write (new or empty)")
    p.add_argument("--name", help="the detector's name in its model card (default: the folder's name)")
    p.add_argument("--overwrite", action="store_true", help="replace the detector files of a non-empty DIR")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a split of its dataset",
                       description="Video-level metrics (every segment of every face track scored) at the "
                                   "checkpoint's validation threshold, or top-1 for image datasets.",
                       **examples(*EXAMPLES["eval"]))
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="which split of the data (default test)")
    add_shortcuts(p, Config, _EVAL_FLAGS)
    p.add_argument("--methods", nargs="+", help="video: only these methods ('real' for real videos)")
    p.add_argument("--out", help="video: folder for predictions.csv and metrics.json")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--int8", action="store_true",
                   help="evaluate the int8 dynamically quantised model (CPU), to compare with fp32")
    add_precision(p)
    _add_set(p, "eval.batch_size=32")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="score videos with a checkpoint: verdict, fake probability, per-face scores",
                       description="Detect and crop faces as in training, score every 16-frame segment, and print "
                                   "a table (one row per video). A file that cannot be read is reported and the "
                                   "others are still scored; exit code 0 when at least one file was scored. Under "
                                   "torchrun (`torchrun --nproc_per_node N -m deepfake_ssat.cli predict DIR --out "
                                   "results.jsonl ...`) each rank scores its share into its own part, and rank 0 "
                                   "merges the parts into --out.",
                       **examples(*EXAMPLES["predict"]))
    p.add_argument("videos", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files or folders (searched recursively)")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--json", help="also write every result (segments, tracks, timings) to this JSON file")
    p.add_argument("--out", metavar="RESULTS.jsonl|RESULTS.csv",
                   help="folder-scale: one line per video, written as soon as it is scored; a rerun skips the "
                        "videos already in the file; prints a summary instead of the table")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=int, default=8, help="segments per forward pass")
    p.add_argument("--max-segments", type=int, default=32,
                   help="at most this many segments per face track, spread over the whole video (0 = no cap)")
    p.add_argument("--workers", type=int, default=0,
                   help="find faces (decode, detect, crop) in this many worker processes while this one runs the "
                        "model; 0 = all in this process. Each worker holds its own face detector")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="with --workers: a video whose faces take longer is recorded as failed and its worker "
                        "replaced (default: no limit)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it goes to stderr)")
    p.add_argument("--int8", action="store_true",
                   help="int8 dynamic quantisation of the Linear layers (CPU; faster, scores differ slightly)")
    add_precision(p)
    p.set_defaults(func=cmd_predict)

    for add in extra_commands:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; ``parser`` defaults to ``build_parser()`` (the library commands only)."""
    args = (parser or build_parser()).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UsageError, FileNotFoundError, ValueError) as e:  # ValueError covers WeightLoadError
        if args.verbose:
            raise
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
