"""Evaluation protocols: fixed recipes that train and test several runs and print one table.

Each protocol module holds ``HELP``, ``DESCRIPTION`` and ``EXAMPLES`` (its ``deepfake-ssat benchmark
NAME`` help), ``add_arguments(parser)`` and ``run_from_args(args) -> str`` (the table it printed), so the
command line lists whatever is registered here:

- ``leave-one-out``: hold each manipulation method out in turn, for any dataset with two or more;
- ``cross-manipulation``: that protocol on FF++ with its official test split (the paper's Table 8);
- ``limited-data``: image classification on a small labelled subset, scratch vs SSAT vs
  pre-training → fine-tuning.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PROTOCOLS = {"leave-one-out": "leave_one_out", "cross-manipulation": "cross_manipulation",
             "limited-data": "limited_data"}


def get_protocol(name: str) -> ModuleType:
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; available: {', '.join(PROTOCOLS)}")
    return importlib.import_module(f".{PROTOCOLS[name]}", __name__)
