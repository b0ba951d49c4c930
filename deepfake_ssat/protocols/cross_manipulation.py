"""FF++ cross-manipulation (leave one method out) and zero-shot transfer: the paper's Table 8.

The leave-one-out protocol (``leave_one_out``) on FaceForensics++ with its official test split: for each
configuration and each held-out method of Deepfakes, Face2Face, FaceSwap and NeuralTextures, fine-tune
(from ``--init`` unless the configuration names its own weights) on the other three + real videos,
select on val, test on the held-out method's test fakes + the test reals; evaluate DFDC-trained
checkpoints zero-shot. The paper's rows are printed beside the measured ones, marked as references.
"""

from __future__ import annotations

from pathlib import Path

from preprocessing.datasets import FFPP_METHODS as METHODS

from .leave_one_out import _run, add_common_arguments
from .protocol import Protocol

DEFAULT_CONFIGS = ("video/ffpp",)
SHORT = {"Deepfakes": "DF", "Face2Face": "F2F", "FaceSwap": "FS", "NeuralTextures": "NT"}

# Table 8 of Das et al. (WACV 2024), video-level accuracy (%), for reference only.
PAPER_ROWS = {
    "paper: VideoMAE(0.95)+SSAT cross-manipulation": {"Deepfakes": 92.42, "Face2Face": 79.21, "FaceSwap": 89.61,
                                                      "NeuralTextures": 81.36},
    "paper: VideoMAE(0.95)+SSAT zero-shot": {"Deepfakes": 92.42, "Face2Face": 61.65, "FaceSwap": 92.83,
                                             "NeuralTextures": 62.37},
}


def ffpp_protocol(root: str | Path, methods: tuple[str, ...] = METHODS) -> Protocol:
    return Protocol("ffpp", str(root), tuple(methods), "test", SHORT, PAPER_ROWS)


# ---------------------------------------------------------------------------------------------
# Command line: `deepfake-ssat benchmark cross-manipulation …`
# ---------------------------------------------------------------------------------------------
HELP = "FF++ leave-one-method-out + zero-shot table (the paper's Table 8)"
DESCRIPTION = ("Fine-tune on three FF++ methods + reals, test on the fourth, for every method and configuration; "
               "evaluate DFDC checkpoints zero-shot. Reruns resume.")

EXAMPLES = ("deepfake-ssat benchmark cross-manipulation --ffpp data/ffpp_faces --init runs/dfdc/best.pt",
            "deepfake-ssat benchmark cross-manipulation --ffpp data/ffpp_faces --configs my/scratch.yaml "
            "my/ssat_095.yaml --devices cuda:0 cuda:1")


def add_arguments(parser) -> None:
    parser.add_argument("--ffpp", required=True,
                        help="preprocessed FF++ folder (the --out of `preprocess --dataset ffpp`)")
    parser.add_argument("--configs", nargs="+", metavar="YAML",
                        help="one table row per configuration (preset name or YAML file; label = file name; "
                             f"default: {' '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="held-out methods to run (default: all four)")
    parser.add_argument("--out", default="runs/benchmark_ffpp", help="results folder (reruns resume here)")
    add_common_arguments(parser)


def run_from_args(args) -> str:
    """Run the benchmark; returns the Markdown table."""
    if args.configs is None and not args.tables_only:
        args.configs = list(DEFAULT_CONFIGS)
    return _run(args, ffpp_protocol(args.ffpp, tuple(args.methods)))
