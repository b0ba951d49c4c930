"""``deepfake-ssat sample``: its arguments and the run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .options import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, LAYOUTS

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepfake-ssat sample``."""
    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="official layout to write")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; must be empty)")
    parser.add_argument("--videos", type=int, default=None,
                        help="real videos (dfdc, default 8) or FF++ ids (ffpp, even, default 12)")
    parser.add_argument("--source", type=Path, default=None,
                        help="folder of your own face images/videos (default: the scikit-image portrait)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per video")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="frame side in pixels (even)")
    parser.add_argument("--fps", type=int, default=DEFAULT_FPS)
    parser.add_argument("--compression", default="c23", help="c23 / c40 (H.264 CRF) or raw (lossless)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous sample in --out (removes only the sample's own files)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``deepfake-ssat sample``; 0 on success, 2 on a usage error (logged in one line)."""
    from .layouts import write_sample_dataset  # numpy, OpenCV, PyAV: only when the command runs

    try:
        root = write_sample_dataset(
            args.layout, args.out, videos=args.videos, source=args.source, seed=args.seed,
            frames=args.frames, size=args.size, compression=args.compression, fps=args.fps,
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError) as exc:
        log.error("sample: %s", exc)
        return 2
    log.info("sample dataset ready at %s", root)
    return 0
