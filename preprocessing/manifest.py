"""The manifest: one JSON object per line, one line per face track (or per video that gave none).

JSONL rather than CSV because rows carry a list (``frame_indices``) and nulls (``track``/``clip``
of reason rows): JSON keeps their types without an ad-hoc encoding, every line stands alone (a
partly written file is still readable up to the break, which the resume journals rely on), and
``pandas.read_json(path, lines=True)`` loads it as a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .files import write_json_atomic, write_text_atomic

# column -> (types accepted, nullable)
COLUMNS: dict[str, tuple[tuple[type, ...], bool]] = {
    "video_id": ((str,), False),  # unique across datasets and methods, e.g. ffpp/Deepfakes/c23/000_003
    "dataset": ((str,), False),  # dfdc | ffpp | folder
    "method": ((str,), False),  # real | Deepfakes | Face2Face | FaceSwap | NeuralTextures | dfdc | folder ...
    "label": ((int,), False),  # 0 real, 1 fake
    "split": ((str,), False),  # train | val | test
    "original": ((str,), False),  # video_id of the real source video (itself for reals)
    "identity": ((str,), False),  # person or source photo; splits never share one (older manifests: original)
    "track": ((int,), True),  # track index within the video; null on reason rows
    "clip": ((str,), True),  # clip path relative to the manifest's folder; null on reason rows
    "num_frames": ((int,), False),  # frames in the clip (0 on reason rows)
    "fps": ((float, int), True),  # source video frame rate
    "frame_indices": ((list,), False),  # source frame index of each clip frame
    "det_score": ((float, int), True),  # mean detector score of the track
    "face_size": ((float, int), True),  # median face box side in source pixels
    # The raw video's frame size and bits per pixel per frame (file size · 8 / (frames · width · height)):
    # properties of the recording, not of a manipulation (shortcut baselines use them). Null on reason rows
    # and in manifests written before they were recorded.
    "width": ((int,), True),
    "height": ((int,), True),
    "bits_per_pixel": ((float, int), True),
    # The clip also holds the five landmarks of every frame, in crop pixels (``clips.read_landmarks``);
    # false in manifests written before they were kept (pseudo-fakes need them: preprocess again).
    "landmarks": ((bool,), False),
    "source": ((str,), False),  # raw video path relative to the dataset root
    "status": ((str,), False),  # ok | no_face | missing_file | decode_error: ... | timeout | error: ...
}

MANIFEST_NAME = "manifest.jsonl"
# Beside the manifest: the face-crop and clip settings that made its clips (a dict of
# PreprocessConfig's ``faces`` and ``clip`` sections), so training and inference crop alike.
_SETTINGS = Path(".state") / "settings.json"


def check_row(row: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Return ``row`` with every column present and of its type; ValueError naming the column otherwise."""
    if "identity" not in row and "original" in row:  # manifests written before identities were recorded
        row = {**row, "identity": row["original"]}
    row = {"width": None, "height": None, "bits_per_pixel": None, "landmarks": False, **row}  # likewise
    out = {}
    for col, (types, nullable) in COLUMNS.items():
        if col not in row:
            raise ValueError(f"{where}column '{col}' missing")
        value = row[col]
        if value is None:
            if not nullable:
                raise ValueError(f"{where}column '{col}' is null")
        elif (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ValueError(f"{where}column '{col}' has {value!r}, expected {types[0].__name__}")
        if col in ("fps", "det_score", "face_size", "bits_per_pixel") and value is not None:
            value = float(value)
        out[col] = value
    if out["label"] not in (0, 1):
        raise ValueError(f"{where}column 'label' must be 0 or 1, got {out['label']}")
    if out["status"] == "ok" and (out["clip"] is None or out["track"] is None):
        raise ValueError(f"{where}an 'ok' row needs 'track' and 'clip'")
    if out["num_frames"] != len(out["frame_indices"]):
        raise ValueError(f"{where}num_frames {out['num_frames']} != {len(out['frame_indices'])} frame_indices")
    return out


def sort_key(row: dict[str, Any]) -> tuple:
    return (row["video_id"], -1 if row["track"] is None else row["track"])


def write_manifest(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows (checked, sorted by video_id then track) atomically; returns the path."""
    path = Path(path)
    rows = sorted((check_row(r) for r in rows), key=sort_key)
    lines = (json.dumps({c: r[c] for c in COLUMNS}, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
    return write_text_atomic(path, "".join(lines))


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Rows with typed values (ints, floats, lists, None); ValueError with the line number when malformed."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object")
            rows.append(check_row(row, f"{path}:{n}: "))
    return rows


def read_settings(root: str | Path) -> dict[str, Any] | None:
    """The settings preprocessing recorded in output folder ``root`` (None for folders made without them):
    ``{"faces": FaceCropConfig fields, "clip": ClipConfig fields, "reuse_original_tracks": bool}``."""
    path = Path(root) / _SETTINGS
    return json.loads(path.read_text()) if path.is_file() else None


def write_settings(root: str | Path, settings: dict[str, Any]) -> Path:
    return write_json_atomic(Path(root) / _SETTINGS, settings, indent=1)
