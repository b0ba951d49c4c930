"""Video-level evaluation: segment scores (the one loop that runs a classifier over segments, for
evaluation and for single-video inference alike), reports overall and per manipulation method, a
predictions CSV (one row per video) and a metrics JSON."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .data.sampler import EpochSampler
from .data.video import collate_segments
from .metrics import binary_metrics, paired_comparison
from .models import SSATModel
from .runtime import Runtime
from .tables import markdown_table

log = logging.getLogger(__name__)


@torch.no_grad()
def score_segments(model: SSATModel, dataset: Dataset, runtime: Runtime, batch_size: int, num_workers: int = 0,
                   fake_index: int = 1, progress: Callable[[float], None] | None = None,
                   ) -> tuple[list[float], list[int]]:
    """Fake probability (softmax, class ``fake_index``) of every segment of a ``SegmentDataset`` and its
    track index, gathered over ranks. ``progress(fraction)`` is called after each batch."""
    model.eval()
    sampler = EpochSampler(len(dataset), runtime.rank, runtime.world_size, shuffle=False, pad=False)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        collate_fn=collate_segments)
    probs: list[float] = []
    tracks: list[int] = []
    done = 0
    for x, _, t in tqdm(loader, desc="segments", leave=False, disable=not runtime.is_main or None):
        with runtime.autocast():
            logits = model(x.to(runtime.device))["logits"].float()
        probs.extend(logits.softmax(1)[:, fake_index].cpu().tolist())
        tracks.extend(t.tolist())
        done += len(t)
        if progress is not None:
            progress(done / max(len(sampler), 1))
    gathered = runtime.gather_objects((probs, tracks))
    return [p for g in gathered for p in g[0]], [t for g in gathered for t in g[1]]

METRIC_COLUMNS = ("n", "acc", "acc_at_threshold", "auc", "log_loss", "ap", "eer", "tpr_at_fpr1")


def video_report(videos: dict[str, dict], unusable: list[dict], threshold: float) -> dict[str, Any]:
    """Overall metrics, per-method metrics (each fake method against all real videos), and the
    videos that could not be scored (no face, decode error), listed apart rather than given 0.5."""
    y = [v["label"] for v in videos.values()]
    s = [v["score"] for v in videos.values()]
    report: dict[str, Any] = {"threshold": threshold, "overall": binary_metrics(y, s, threshold), "per_method": {}}
    fake_methods = sorted({v["method"] for v in videos.values() if v["label"] == 1})
    if len(fake_methods) > 1:
        for m in fake_methods:
            sel = [v for v in videos.values() if v["label"] == 0 or v["method"] == m]
            report["per_method"][m] = binary_metrics([v["label"] for v in sel], [v["score"] for v in sel], threshold)
    report["unscored"] = [{"video_id": r["video_id"], "label": r["label"], "method": r["method"],
                           "status": r["status"]} for r in unusable]
    report["pairs"] = paired_comparison(videos)
    return report


def write_predictions(path: Path, videos: dict[str, dict], unusable: list[dict], threshold: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "method", "label", "fake_probability", "prediction", "tracks", "segments", "status"])
        for vid, v in sorted(videos.items()):
            w.writerow([vid, v["method"], v["label"], f"{v['score']:.6f}", int(v["score"] >= threshold), v["tracks"],
                        v["segments"], "ok"])
        for r in unusable:
            w.writerow([r["video_id"], r["method"], r["label"], "", "", 0, 0, r["status"]])
    return path


def write_report(out_dir: Path, report: dict[str, Any], videos: dict[str, dict], unusable: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.csv", videos, unusable, report["threshold"])
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    wrote = [out_dir / "predictions.csv", out_dir / "metrics.json"]
    labels = [v["label"] for v in videos.values()]
    if len(set(labels)) == 2:
        from .figures import roc_figure

        wrote.append(roc_figure(labels, [v["score"] for v in videos.values()], report["threshold"],
                                out_dir / "roc.png"))
    log.info("wrote %s", ", ".join(map(str, wrote)))


def format_table(report: dict[str, Any]) -> str:
    """Markdown table: one row overall, one per method."""
    subsets = [("all", report["overall"])] + list(report["per_method"].items())
    rows = [(name, *(f"{int(m[c])}" if c == "n" else f"{m[c]:.4f}" for c in METRIC_COLUMNS)) for name, m in subsets]
    lines = [markdown_table(("subset", *METRIC_COLUMNS), rows)]
    if report.get("pairs"):
        p = report["pairs"]
        lines.append(f"\npaired: {p['fake_above_original']} of {p['n']} fakes score above their own original")
    if report["unscored"]:
        lines.append(f"\n{len(report['unscored'])} video(s) without a usable face track (not scored): "
                     + ", ".join(f"{u['video_id']} ({u['status']})" for u in report["unscored"][:10]))
    return "\n".join(lines)
