"""Flags of `deepfake-ssat preprocess`; the main CLI builds PreprocessConfig from them and calls run_command.

Each flag's dest is the dotted PreprocessConfig field it sets and its default is SUPPRESS, so
``config_from_args`` returns only what was given and YAML/defaults fill in the rest.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .config import PreprocessConfig

log = logging.getLogger(__name__)

_S = argparse.SUPPRESS
# (flag, dotted config field, argparse kwargs)
_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    ("--dataset", "dataset", {"choices": ["dfdc", "ffpp", "folder"], "help": "layout of --root"}),
    ("--root", "root", {"help": "raw dataset folder"}),
    ("--out", "out", {"help": "output folder (manifest.jsonl, clips/, tracks/)"}),
    ("--compression", "compression", {"choices": ["c23", "c40", "raw"], "help": "FF++ quality (default c23)"}),
    ("--methods", "methods", {"nargs": "+", "metavar": "M", "help": "FF++ methods (default: the four)"}),
    ("--split-dir", "split_dir", {"help": "FF++ folder with train/val/test.json (default <root>/splits)"}),
    ("--csv", "csv", {"help": "folder layout: CSV (path,label[,split] or a header with path,label,split,method,"
                              "identity) instead of real/ and fake/<method>/"}),
    ("--val-fraction", "val_fraction", {"type": float, "help": "share of groups put in val (default 0.1)"}),
    ("--test-fraction", "test_fraction", {"type": float,
                                          "help": "folders: share of identities put in test (default 0)"}),
    ("--split-by-part", "split_by_part", {"action": "store_true", "help": "DFDC: split whole parts"}),
    ("--seed", "seed", {"type": int, "help": "seed of the train/val split"}),
    ("--workers", "workers", {"type": int, "help": "worker processes (0 = in this process)"}),
    ("--threads-per-worker", "threads_per_worker", {"type": int, "help": "torch threads per worker"}),
    ("--timeout", "timeout", {"type": float, "help": "seconds before one video is cut off"}),
    ("--retry-failed", "retry_failed", {"action": "store_true", "help": "rerun videos that failed before"}),
    ("--limit", "limit", {"type": int, "help": "only the first N videos (quick runs)"}),
    ("--device", "faces.detector.device", {"help": "detector device: auto, cpu, cuda, cuda:N"}),
    ("--detect-every", "faces.detector.every", {"type": int, "help": "detect on every k-th frame"}),
    ("--detect-max-side", "faces.detector.max_side", {"type": int, "help": "downscale frames to this side"}),
    ("--batch-size", "faces.detector.batch_size", {"type": int, "help": "frames per detector batch"}),
    ("--margin", "faces.margin", {"type": float, "help": "crop side = box side x margin (default 1.3)"}),
    ("--size", "faces.size", {"type": int, "help": "crop side in pixels (default 224)"}),
    ("--frame-stride", "faces.frame_stride", {"type": int, "help": "keep every n-th frame"}),
    ("--max-frames", "faces.max_frames", {"type": int, "help": "at most this many frames per video"}),
    ("--quality", "clip.quality", {"type": int, "help": "JPEG quality of the clips (default 95)"}),
    ("--no-progress", "progress", {"action": "store_false", "help": "no progress bar"}),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preprocess")
    for flag, dest, kwargs in _FLAGS:
        group.add_argument(flag, dest=dest, default=_S, **kwargs)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Nested dict of the PreprocessConfig values given as flags (unset flags are absent)."""
    out: dict[str, Any] = {}
    given = vars(args)
    for _, dest, _ in _FLAGS:
        if dest not in given:
            continue
        node = out
        *parents, leaf = dest.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = given[dest]
    return out


def run_command(cfg: PreprocessConfig) -> int:
    """Run preprocessing; 0 on success (failed videos are reported in the manifest), 2 on bad input."""
    from .datasets import DatasetError  # heavy imports (torch, MTCNN) only when the command runs
    from .runner import OutputMismatchError, run_preprocess

    try:
        run_preprocess(cfg)
    except (DatasetError, OutputMismatchError, ValueError) as e:  # ValueError: config (rank/world size, fields)
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; rerun the same command to resume (finished videos are kept)\n")
        return 130
    return 0
