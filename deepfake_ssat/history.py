"""A run's per-epoch log, ``RUN/metrics.jsonl`` (the engine appends one row per epoch): its reader and the
windowed training loss that says whether a run has converged."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

# Windows of the budget, as fractions of its steps: the start, then the last three fifths, where a
# converged run's training loss has flattened.
CONVERGENCE_WINDOWS = ((0.0, 0.1), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/metrics.jsonl``, oldest first; [] when the run has written none."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_windows(history: list[dict[str, Any]], steps: int, key: str = "train_loss_cls",
                 windows: tuple[tuple[float, float], ...] = CONVERGENCE_WINDOWS) -> list[float | None]:
    """Mean of ``key`` over the epochs that ended inside each window ``(a, b]`` of ``steps`` (the first
    window includes step 0); None for a window without an epoch (a run stopped early, or too short)."""
    out: list[float | None] = []
    for a, b in windows:
        lo, hi = a * steps, b * steps
        values = [r[key] for r in history
                  if key in r and "step" in r and (lo < r["step"] <= hi or (a == 0 and r["step"] == 0))]
        out.append(statistics.mean(values) if values else None)
    return out
