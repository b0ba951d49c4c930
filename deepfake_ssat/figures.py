"""Figures of a run and of an evaluation (matplotlib, written as PNG beside the numbers they show).

- ``training_curves(run_dir)``: the losses per epoch (total, classification, reconstruction) and the
  validation metrics against the optimiser step (the unit of every budget), from ``metrics.jsonl``;
  written at the end of training and by ``deepfake-ssat plot``.
- ``roc_figure(labels, scores, threshold, path)``: the video-level ROC curve with the point of the
  decision threshold marked; ``eval --out`` writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .history import read_history

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


# The validation curves drawn (the rest stay in metrics.jsonl): ranking, calibration, accuracy, reconstruction.
_VAL_SHOWN = ("val_auc", "val_log_loss", "val_acc_at_threshold", "val_top1", "val_loss", "val_loss_rec")


def training_curves(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """``run_dir/metrics.jsonl`` → ``run_dir/curves.png`` (or ``path``)."""
    run_dir = Path(run_dir)
    src = run_dir / "metrics.jsonl"
    if not src.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}: not a run folder of `deepfake-ssat train`")
    rows = read_history(run_dir)
    if not rows:
        raise ValueError(f"{src} is empty: the run has not finished an epoch")
    plt = _pyplot()
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    # rows written before steps were logged fall back to the epoch
    x_key, x_label = ("step", "optimiser step") if all("step" in r for r in rows) else ("epoch", "epoch")
    xs = [r[x_key] for r in rows]
    # An epoch of a small dataset is a few noisy augmented batches: the running mean shows the trend.
    window = max(1, len(rows) // 20)
    for key, label in (("train_loss", "loss"), ("train_loss_cls", "classification (CE)"),
                       ("train_loss_rec", "reconstruction (MSE)")):
        values = [r.get(key) for r in rows]
        if any(v for v in values):
            (line,) = ax_loss.plot(xs, values, lw=0.6, alpha=0.35 if window > 1 else 1.0)
            if window > 1:
                mean = np.convolve(np.asarray(values, float), np.ones(window) / window, mode="valid")
                ax_loss.plot(xs[window - 1:], mean, color=line.get_color(), lw=1.6,
                             label=f"{label}, mean of {window}")
            else:
                line.set_label(label)
    ax_loss.set_xlabel(x_label)
    ax_loss.set_title("training losses", fontsize=10)
    ax_loss.legend(fontsize="small")
    present = {k for r in rows for k in r if k.startswith("val_")}
    val_keys = [k for k in _VAL_SHOWN if k in present] or sorted(
        present - {"val_n", "val_n_fake", "val_threshold"})
    for key in val_keys:
        pts = [(r[x_key], r[key]) for r in rows if key in r and r[key] == r[key]]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), marker="o", ms=3, label=key[4:])
    ax_val.set_xlabel(x_label)
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
