"""Shortcut baselines for the leave-one-out protocol: classifiers that cannot see a manipulation.

Each is a logistic regression (standardised features, balanced class weights) on per-video
statistics of the recording and of the face crop, trained on a fold's training videos and tested on
the same test set as the models. If one of them matches the video ViT, the model's number says as
much about how the reals and fakes were recorded as about the manipulation.

Features (per video, the mean over its face tracks):
- ``bits_per_pixel``: file size · 8 / (frames · width · height), the encoding's budget;
- ``frame_size``: width · height of the raw video;
- ``face_size``: the median face box side, source pixels;
- ``sharpness``: variance of the Laplacian of the stored face crops (8 frames spread over the track).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import binary_metrics, paired_comparison
from .protocol import Protocol, manifest_rows

log = logging.getLogger(__name__)

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "shortcut: recording (bits per pixel, frame size)": ("bits_per_pixel", "frame_size"),
    "shortcut: face crop (face size, sharpness)": ("face_size", "sharpness"),
    "shortcut: all four statistics": ("bits_per_pixel", "frame_size", "face_size", "sharpness"),
}


def _sharpness(root: Path, row: dict, frames: int = 8) -> float:
    import cv2

    from preprocessing.clips import read_clip

    n = row["num_frames"]
    idx = np.unique(np.linspace(0, n - 1, min(frames, n)).round().astype(int))
    crops = read_clip(root / row["clip"], idx)
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for c in crops]))


def video_features(root: str | Path, rows: list[dict]) -> dict[str, dict[str, Any]]:
    """video_id → {video_id, original, label, method, split, identity, and the four features (logs)} over its
    usable tracks."""
    root = Path(root)
    per: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            per[r["video_id"]].append(r)
    out = {}
    for vid, tracks in per.items():
        r0 = tracks[0]
        if r0.get("bits_per_pixel") is None or r0.get("width") is None:
            raise ValueError(f"{root}/manifest.jsonl has no frame size / bits per pixel (written before they were "
                             "recorded): preprocess the data again for the shortcut baselines")
        out[vid] = {
            "video_id": vid, "original": r0["original"],
            "label": r0["label"], "method": r0["method"], "split": r0["split"], "identity": r0["identity"],
            "bits_per_pixel": math.log(max(r0["bits_per_pixel"], 1e-6)),
            "frame_size": math.log(r0["width"] * r0["height"]),
            "face_size": float(np.mean([math.log(max(t["face_size"], 1.0)) for t in tracks])),
            "sharpness": float(np.mean([math.log(_sharpness(root, t) + 1e-6) for t in tracks])),
        }
    return out


def select_videos(features: dict[str, dict], selection, exclude: Collection[str] = ()) -> list[dict]:
    """The videos of ``video_features`` that a selection ({method: splits}, or a ``Pick``) names, without the
    identities ``exclude``."""
    from ..data.video import Pick

    pick = selection if isinstance(selection, Pick) else Pick(selection)
    return [f for f in features.values() if pick(f) and f["identity"] not in exclude]


def fit_shortcut(videos: list[dict], names: tuple[str, ...], what: str):
    """A balanced logistic regression on standardised features ``names`` of ``videos``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.array([[f[n] for n in names] for f in videos])
    y = np.array([f["label"] for f in videos])
    if len(set(y)) < 2:
        raise ValueError(f"shortcut baseline: {what} has one class in training")
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced")).fit(x, y)


def _probabilities(clf, names: tuple[str, ...], videos: list[dict]) -> np.ndarray:
    return clf.predict_proba(np.array([[f[n] for n in names] for f in videos]))[:, 1]


def score_shortcut(clf, names: tuple[str, ...], videos: list[dict]) -> dict[str, float] | None:
    """Video-level metrics of a fitted shortcut on ``videos`` (None when there are none)."""
    if not videos:
        return None
    return binary_metrics([f["label"] for f in videos], _probabilities(clf, names, videos), 0.5)


def shortcut_pairs(clf, names: tuple[str, ...], videos: list[dict]) -> dict | None:
    """The fakes of ``videos`` against their own originals, as the models' reports compare them."""
    if not videos:
        return None
    p = _probabilities(clf, names, videos)
    return paired_comparison({f["video_id"]: {"score": float(s), "label": f["label"], "original": f["original"]}
                              for f, s in zip(videos, p, strict=True)})


def shortcut_rows(proto: Protocol) -> list[dict[str, Any]]:
    """One result per (feature set, held-out method), in the leave-one-out protocol's result format."""
    features = video_features(proto.root, manifest_rows(proto.root))
    results = []
    for heldout in proto.methods:
        train = select_videos(features, {m: ("train",) for m in ("real", *proto.trained(heldout))},
                              exclude=proto.held_people(heldout))
        test = select_videos(features, proto.test_selection(heldout))
        seen = select_videos(features, proto.seen_selection(heldout))
        for label, names in FEATURE_SETS.items():
            clf = fit_shortcut(train, names, f"the fold holding out {heldout}")
            results.append({"label": label, "heldout": heldout, "seed": None, "kind": "shortcut baseline",
                            "metrics": score_shortcut(clf, names, test), "seen": score_shortcut(clf, names, seen),
                            "pairs": shortcut_pairs(clf, names, test),
                            "features": list(names),
                            "train_videos": len(train), "test_fakes": proto.test_fakes})
    log.info("shortcut baselines: %d feature sets × %d held-out methods", len(FEATURE_SETS), len(proto.methods))
    return results
