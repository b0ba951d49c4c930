"""int8 dynamic quantisation of a model's Linear layers, for CPU inference.

The weights of every ``nn.Linear`` become int8 (per-tensor scale) and activations are quantised on the
fly; attention's matmuls, norms and the patch embedding stay fp32. On CPUs this trades a little
accuracy for speed (``benchmarks/speed.py`` measures both; ``eval --int8`` gives the metrics side by
side with fp32).
"""

from __future__ import annotations

import warnings

import torch


def int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` (on the CPU, in eval mode) with int8 dynamic Linear layers."""
    from torch.ao.quantization import quantize_dynamic

    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 dynamic quantisation runs on the CPU: use --device cpu with --int8")
    with warnings.catch_warnings():
        # torch.ao's eager quantisation warns that it moves to the torchao package; it still works and
        # needs no extra dependency
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning, FutureWarning))
        return quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)
