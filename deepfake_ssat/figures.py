"""Figures of a run and of an evaluation (matplotlib, written as PNG beside the numbers they show).

- ``training_curves(run_dir)``: the losses per epoch (total, classification, reconstruction) and the
  validation metrics, from ``metrics.jsonl``; written at the end of training and by ``deepfake-ssat plot``.
- ``roc_figure(labels, scores, threshold, path)``: the video-level ROC curve with the point of the
  decision threshold marked; ``eval --out`` writes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def training_curves(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """``run_dir/metrics.jsonl`` → ``run_dir/curves.png`` (or ``path``)."""
    run_dir = Path(run_dir)
    src = run_dir / "metrics.jsonl"
    if not src.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}: not a run folder of `deepfake-ssat train`")
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{src} is empty: the run has not finished an epoch")
    plt = _pyplot()
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    epochs = [r["epoch"] for r in rows]
    for key, label in (("train_loss", "loss"), ("train_loss_cls", "classification (CE)"),
                       ("train_loss_rec", "reconstruction (MSE)")):
        values = [r.get(key) for r in rows]
        if any(v for v in values):
            ax_loss.plot(epochs, values, label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title("training losses", fontsize=10)
    ax_loss.legend(fontsize="small")
    val_keys = sorted({k for r in rows for k in r if k.startswith("val_") and k not in ("val_n", "val_n_fake",
                                                                                          "val_threshold")})
    for key in val_keys:
        pts = [(r["epoch"], r[key]) for r in rows if key in r and r[key] == r[key]]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), marker="o", ms=3, label=key[4:])
    ax_val.set_xlabel("epoch")
    ax_val.set_title("validation", fontsize=10)
    if val_keys:
        ax_val.legend(fontsize="small", ncols=2, loc="best")
    fig.suptitle("/".join(run_dir.resolve().parts[-3:]), fontsize=10)
    out = Path(path) if path is not None else run_dir / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def roc_figure(labels: Sequence[int], scores: Sequence[float], threshold: float, path: str | Path,
               title: str = "") -> Path:
    """The ROC curve of video scores with the operating point of ``threshold`` marked."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = np.asarray(labels), np.asarray(scores)
    if len(np.unique(y)) < 2:
        raise ValueError("a ROC curve needs real and fake videos")
    fpr, tpr, _ = roc_curve(y, s)
    at_fpr = float(np.mean(s[y == 0] >= threshold))
    at_tpr = float(np.mean(s[y == 1] >= threshold))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2), layout="constrained")
    ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, s):.3f} ({int((y == 0).sum())} real, {int(y.sum())} fake)")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.plot([at_fpr], [at_tpr], "o", color="crimson", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("false positive rate (reals called fake)")
    ax.set_ylabel("true positive rate (fakes caught)")
    ax.set_title(title or "video-level ROC", fontsize=10)
    ax.legend(fontsize="small", loc="lower right")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
