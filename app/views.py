"""What the demo shows, as plain functions of a ``Prediction``: HTML, tables, images. No Gradio here."""

from __future__ import annotations

import html
from typing import Any

import cv2
import numpy as np
import pandas as pd

from deepfake_ssat.inference import Prediction, Reconstruction

# Timeline colours: one per face (up to 8), the threshold in grey.
SERIES_COLOURS = {"threshold": "#9e9e9e", **{f"face {k}": c for k, c in enumerate(
    ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#283593"])}}
_COLOURS = {"fake": "#c62828", "real": "#2e7d32", "inconclusive": "#8d6e63", "message": "#b26a00",
            "none": "#546e7a", "empty": "#546e7a"}


def _box(colour: str, title: str, body: str) -> str:
    return (f'<div class="ssat-verdict" style="border-left:8px solid {colour};padding:12px 16px;'
            f'border-radius:6px;background:{colour}14">'
            f'<div style="font-size:1.9em;font-weight:700;color:{colour}">{title}</div>'
            f'<div style="margin-top:4px">{body}</div></div>')


def message_html(text: str, kind: str = "message") -> str:
    """A plain message in the verdict box (not a video, too long, no checkpoint, …)."""
    title = {"message": "Cannot analyse this file", "none": "No trained model loaded",
             "empty": "Nothing to analyse yet"}.get(kind, kind)
    return _box(_COLOURS.get(kind, _COLOURS["message"]), html.escape(title), html.escape(text))


def verdict_html(pred: Prediction) -> str:
    if pred.verdict == "inconclusive":
        return _box(_COLOURS["inconclusive"], "Inconclusive",
                    html.escape(f"{pred.reason}. No score is given: the model only judges faces."))
    pct = 100.0 * (pred.score or 0.0)
    title = f"{pred.verdict.upper()} &nbsp;·&nbsp; {pct:.1f}% fake"
    worst = pred.fake_track
    body = (f"Fake probability {pred.score:.3f} (decision threshold {pred.threshold:.3f}, chosen on validation)"
            + (f"; set by face {worst}, the most fake of {pred.counts['tracks_scored']} scored faces"
               if pred.counts["tracks_scored"] > 1 else ""))
    return _box(_COLOURS[pred.verdict], title, html.escape(body))


def summary_markdown(pred: Prediction) -> str:
    c, t = pred.counts, pred.timings
    lines = [
        f"**Video**: {pred.width}×{pred.height}, {pred.fps:.1f} fps, {pred.duration_s:.1f} s",
        f"**Counted**: {c['frames_read']} frames read · {c['face_frames']} face crops in {c['tracks']} face "
        f"track{'s' if c['tracks'] != 1 else ''} · {c['segments']} segments scored"
        + (f" (of {c['segments_total']})" if c["segments_total"] != c["segments"] else ""),
        f"**Processing time**: {t['total']:.1f} s (decode {t.get('decode', 0):.1f} · detect {t.get('detect', 0):.1f}"
        f" · track+crop {t.get('track', 0) + t.get('crop', 0):.1f} · model {t.get('model', 0):.1f})",
    ]
    for tr in pred.tracks:
        score = "not scored: " + (tr.skipped or "") if tr.score is None else f"fake probability {tr.score:.3f}"
        lines.append(f"- face {tr.index}: {tr.start_s:.1f}–{tr.end_s:.1f} s, {tr.face_frames} frames, "
                     f"{tr.segments} segments, {score}")
    lines += [f"> {n}" for n in pred.notes]
    return "\n\n".join(lines[:3]) + ("\n\n" + "\n".join(lines[3:]) if len(lines) > 3 else "")


def timeline_frame(pred: Prediction) -> pd.DataFrame:
    """Long table for the timeline plot: one row per segment (at its middle time) per face, plus the threshold."""
    rows: list[dict[str, Any]] = [
        {"time (s)": round((s.start_s + s.end_s) / 2, 3), "fake probability": s.fake_prob, "series": f"face {s.track}"}
        for s in pred.segments
    ]
    if rows:
        rows += [{"time (s)": 0.0, "fake probability": pred.threshold, "series": "threshold"},
                 {"time (s)": round(pred.duration_s, 3), "fake probability": pred.threshold, "series": "threshold"}]
    return pd.DataFrame(rows, columns=["time (s)", "fake probability", "series"])


# The face that sets the verdict is drawn in a strong colour, the others faint, so that many faces whose
# lines cross near 0.5 still read as "this one decided".
_DECIDING = "#c62828"
_FAINT = ["#90a4ae", "#b0bec5", "#a1887f", "#bcaaa4", "#9fa8da", "#80cbc4", "#ce93d8", "#c5e1a5"]


def series_colours(pred: Prediction) -> dict[str, str]:
    faces = sorted({s.track for s in pred.segments})
    others = iter(_FAINT * (1 + len(faces) // len(_FAINT)))
    colours = {f"face {k}": _DECIDING if k == pred.fake_track else next(others) for k in faces}
    return {**colours, "threshold": SERIES_COLOURS["threshold"]}


def gallery_items(pred: Prediction) -> list[tuple[np.ndarray, str]]:
    items = []
    for tr in pred.tracks:
        if tr.crops is None:
            continue
        score = "not scored" if tr.score is None else f"{tr.score:.2f}"
        for k, crop in enumerate(tr.crops):
            items.append((crop, f"face {tr.index} · {score}" if k == 0 else f"face {tr.index}"))
    return items


def model_card_markdown(info: dict[str, Any] | None) -> str:
    if info is None:
        return ("### ⚠ No trained model loaded\n"
                "This demo was started without a checkpoint, so it **does not score videos** (a random model "
                "would give meaningless numbers). Start it with "
                "`deepfake-ssat demo --checkpoint runs/<run>/best.pt`.")
    text = (f"**Model** `{info['checkpoint']}` · {info['model']} · trained with mode `{info['mode']}` on "
            f"**{info['dataset']}** · threshold {info['threshold']:.3f} · faces cropped at {info['face_margin']}× "
            f"margin, {info['face_size']} px · running on {info['device']} in {info.get('precision', 'fp32')}")
    if info.get("trained_on"):
        text += f"\n\n**Detector card** — {info['trained_on']}. *Note: {info['caveat']}.*"
    if info.get("quality"):
        text += f"\n\n**Measured when trained** — {info['quality']}."
    for n in info.get("notes", []):
        text += f"\n\n> {n}"
    return text


# --------------------------------------------------------------------------- reconstruction mosaic
def _tile(img: np.ndarray, side: int) -> np.ndarray:
    interp = cv2.INTER_NEAREST if img.shape[0] < side else cv2.INTER_AREA
    return cv2.resize(img, (side, side), interpolation=interp)


def reconstruction_mosaic(rec: Reconstruction, tubelet: int, columns: int = 8, side: int = 128) -> np.ndarray:
    """Rows: original, masked input, reconstruction, per-tube error; columns: frames of the clip."""
    t = rec.original.shape[0]
    frames = np.unique(np.rint(np.linspace(0, t - 1, min(columns, t))).astype(int))
    err = rec.error
    finite = err[np.isfinite(err)]
    low = float(finite.min()) if finite.size else 0.0
    top = float(finite.max()) if finite.size else 1.0
    label_w, gap = 130, 4
    rows = [("original", rec.original), ("masked input", rec.masked), ("reconstruction", rec.reconstruction),
            ("error (hidden)", None)]
    h = len(rows) * (side + gap) + gap
    w = label_w + len(frames) * (side + gap)
    out = np.full((h, w, 3), 255, np.uint8)
    for r, (name, stack) in enumerate(rows):
        y = gap + r * (side + gap)
        cv2.putText(out, name, (6, y + side // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
        for c, f in enumerate(frames):
            x = label_w + c * (side + gap)
            if stack is not None:
                tile = _tile(stack[f], side)
            else:
                e = err[f // tubelet]  # (h, w) tubes of this frame's temporal slot
                norm = np.nan_to_num((e - low) / max(top - low, 1e-8), nan=0.0)  # dark = lowest, bright = highest
                heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
                heat[~np.isfinite(e)] = (200, 200, 200)  # visible tubes: nothing to reconstruct
                tile = cv2.resize(heat, (side, side), interpolation=cv2.INTER_NEAREST)
            out[y : y + side, x : x + side] = tile
    return out
