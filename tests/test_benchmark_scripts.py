"""The scripts of benchmarks/ still import and parse their arguments (they have no other test: they
measure, and take minutes to hours)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py"))


@pytest.fixture(autouse=True)
def _benchmarks_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/x.py` runs them


def test_every_script_is_listed():
    assert {"speed", "demo_latency", "pseudo_fake_transfer", "bench_preprocess"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports_and_answers_help(name, capsys):
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
    sys.modules.pop(name, None)


def test_attention_share_counts_the_sdpa_kernel():
    import torch

    speed = importlib.import_module("speed")
    q = torch.randn(1, 2, 64, 16)
    only_attention = speed.attention_share(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    no_attention = speed.attention_share(lambda: torch.randn(64, 64) @ torch.randn(64, 64))
    assert only_attention > 0.5
    assert no_attention == 0.0
    sys.modules.pop("speed", None)
