"""Binary real/fake metrics at video level, and the segment → track → video aggregation.

A video's score is the mean fake probability of all 16-frame segments of a face track (softmax
per segment, then the mean — not the mean of logits); with several faces, a video is as fake as
its most fake face (max over tracks).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from sklearn import metrics as skm


def track_scores(segment_probs: Sequence[float], segment_tracks: Sequence[int]) -> dict[int, tuple[float, int]]:
    """Mean fake probability per track → {track: (score, number of segments)}."""
    sums: dict[int, list[float]] = defaultdict(list)
    for p, t in zip(segment_probs, segment_tracks, strict=True):
        sums[int(t)].append(float(p))
    return {t: (float(np.mean(v)), len(v)) for t, v in sums.items()}


def video_scores(track_score: dict[int, tuple[float, int]], track_video: Sequence[str]) -> dict[str, dict]:
    """Max over a video's tracks → {video_id: {score, tracks, segments, worst_track}}."""
    out: dict[str, dict] = {}
    for t, (score, n_seg) in sorted(track_score.items()):
        vid = track_video[t]
        cur = out.get(vid)
        if cur is None:
            out[vid] = {"score": score, "tracks": 1, "segments": n_seg, "worst_track": t}
        else:
            cur["tracks"] += 1
            cur["segments"] += n_seg
            if score > cur["score"]:
                cur["score"], cur["worst_track"] = score, t
    return out


def paired_comparison(videos: dict[str, dict]) -> dict | None:
    """Each scored fake against its own scored original (``original`` of the video records): identity,
    background and framing cancel, so only the manipulation (and its re-encoding) separates the two.
    None when no fake has its original among ``videos``."""
    pairs = [(vid, v["original"]) for vid, v in sorted(videos.items())
             if v["label"] == 1 and v.get("original") not in (None, vid) and v["original"] in videos]
    if not pairs:
        return None
    listed = [{"fake": f, "original": o, "fake_score": videos[f]["score"], "original_score": videos[o]["score"]}
              for f, o in pairs]
    return {"n": len(pairs), "fake_above_original": sum(p["fake_score"] > p["original_score"] for p in listed),
            "pairs": listed}


def equal_error_rate(y: np.ndarray, score: np.ndarray) -> float:
    """EER interpolated between ROC points where FPR − FNR changes sign (not the nearest point)."""
    fpr, tpr, _ = skm.roc_curve(y, score)
    fnr = 1.0 - tpr
    diff = fpr - fnr  # increasing from ≤ 0 to ≥ 0 along the curve
    i = int(np.searchsorted(diff, 0.0))
    if i == 0:
        return float(fpr[0])
    if i >= len(diff):
        return float(fpr[-1])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(y: np.ndarray, score: np.ndarray, target: float = 0.01) -> float:
    """TPR at a given FPR, linearly interpolated on the ROC curve."""
    fpr, tpr, _ = skm.roc_curve(y, score)
    return float(np.interp(target, fpr, tpr))


def threshold_for_best_accuracy(y: np.ndarray, score: np.ndarray) -> float:
    """Threshold (midpoint between neighbouring scores) that maximises accuracy — chosen on validation."""
    order = np.sort(np.unique(score))
    candidates = np.concatenate([[0.0], (order[:-1] + order[1:]) / 2, [1.0]]) if len(order) > 1 else np.array([0.5])
    accs = [np.mean((score >= c) == y) for c in candidates]
    return float(candidates[int(np.argmax(accs))])


def binary_metrics(y: Iterable[int], score: Iterable[float], threshold: float = 0.5) -> dict[str, float]:
    """Accuracy at 0.5 and at ``threshold``, ROC-AUC, log loss, AP, EER, TPR at FPR 1 %.

    Rank metrics are NaN when only one class is present (they are undefined, not 0.5).
    """
    y = np.asarray(list(y), dtype=np.int64)
    s = np.clip(np.asarray(list(score), dtype=np.float64), 0.0, 1.0)
    out = {
        "n": float(len(y)),
        "n_fake": float(y.sum()),
        "acc": float(np.mean((s >= 0.5) == y)) if len(y) else math.nan,
        "acc_at_threshold": float(np.mean((s >= threshold) == y)) if len(y) else math.nan,
        "threshold": float(threshold),
        "log_loss": float(skm.log_loss(y, s, labels=[0, 1])) if len(y) else math.nan,
    }
    if len(np.unique(y)) == 2:
        out.update(
            auc=float(skm.roc_auc_score(y, s)),
            ap=float(skm.average_precision_score(y, s)),
            eer=equal_error_rate(y, s),
            tpr_at_fpr1=tpr_at_fpr(y, s, 0.01),
        )
    else:
        out.update(auc=math.nan, ap=math.nan, eer=math.nan, tpr_at_fpr1=math.nan)
    return out
