"""The ``deepfake-ssat`` command line: one console script with subcommands.

Every subcommand is a small function over the library; ``main(argv)`` is callable from tests.
Expected failures (bad config key, missing path, unusable checkpoint) end with a one-line
``error: …`` and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import yaml

from .configschema import ConfigError, to_dict

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
    except (ConfigError, UsageError, FileNotFoundError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
