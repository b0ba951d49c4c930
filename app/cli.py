"""The ``deepfake-ssat`` console script: every library command of ``deepfake_ssat.cli`` plus ``demo``.

It sits in the top layer so that the library never imports the demo (``preprocessing`` ←
``deepfake_ssat`` ← ``app``). ``python -m deepfake_ssat.cli`` runs the same commands without ``demo``
(what torchrun launches for training).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deepfake_ssat import cli as library

EXAMPLES = ("deepfake-ssat demo --checkpoint runs/dfdc/best.pt",
            "deepfake-ssat demo --checkpoint runs/dfdc/best.pt --host 0.0.0.0 --port 8080 --max-seconds 120",
            "deepfake-ssat demo --checkpoint detectors/dfdc-videomae-ssat")


def add_demo_command(sub) -> None:
    """Add ``demo`` to the subparsers of ``deepfake_ssat.cli.build_parser``."""
    p = sub.add_parser("demo", help="web demo (Gradio): upload a video, see the verdict, timeline and faces",
                       **library.examples(*EXAMPLES))
    p.add_argument("--checkpoint", help="a trained checkpoint, detector folder or hub id of one; without one "
                                        "the demo says so and scores nothing")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--max-mb", type=float, default=200.0, help="largest upload accepted, in MB")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest video accepted, in seconds")
    p.add_argument("--concurrency", type=int, default=1, help="videos processed at the same time (the rest queue)")
    p.add_argument("--max-segments", type=int, default=32,
                   help="at most this many segments per face track, spread over the whole video (0 = no cap)")
    p.add_argument("--int8", action="store_true",
                   help="int8 dynamic quantisation of the classifier (CPU; faster, scores differ slightly)")
    library.add_precision(p)
    p.add_argument("--examples", nargs="+", metavar="VIDEO",
                   help="example videos to offer (default: ../shared/data/portrait_*.mp4 when present)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoSettings, launch

    settings = DemoSettings(max_mb=args.max_mb, max_seconds=args.max_seconds, concurrency=args.concurrency,
                            device=args.device, max_segments_per_track=args.max_segments or None, int8=args.int8,
                            precision=args.precision,
                            examples=args.examples or [])
    launch(args.checkpoint, settings, host=args.host, port=args.port, share=args.share)
    return 0


def build_parser() -> argparse.ArgumentParser:
    return library.build_parser(extra_commands=(add_demo_command,))


def main(argv: Sequence[str] | None = None) -> int:
    return library.main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
