"""One video of a dataset run → its journal record: the manifest rows of its face tracks (clips
written), or one reason row when it gave none. Every failure becomes a reason row, never an exception."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from .clips import write_clip
from .config import PreprocessConfig
from .datasets import VideoEntry
from .faces import FaceTrack, extract_tracks
from .files import write_json_atomic
from .video import VideoDecodeError

log = logging.getLogger(__name__)


def _safe(video_id: str) -> str:
    """video_id as a relative path that cannot climb out of the output folder."""
    return "/".join("__" if part in ("", ".", "..") else part for part in video_id.split("/"))


def _base_row(e: VideoEntry) -> dict[str, Any]:
    return {
        "video_id": e.video_id,
        "dataset": e.dataset,
        "method": e.method,
        "label": e.label,
        "split": e.split,
        "original": e.original,
        "identity": e.identity,
        "source": e.source,
    }


def reason_row(e: VideoEntry, status: str, fps: float | None = None) -> dict[str, Any]:
    return {
        **_base_row(e),
        "track": None,
        "clip": None,
        "num_frames": 0,
        "fps": fps,
        "frame_indices": [],
        "det_score": None,
        "face_size": None,
        "width": None,
        "height": None,
        "bits_per_pixel": None,
        "landmarks": False,
        "status": status,
    }


def _load_reuse(out: Path, e: VideoEntry) -> list[FaceTrack] | None:
    """The original's tracks: DFDC and FF++ fakes are made frame for frame from their original. A folder
    fake made from a real video (the CSV's ``original``) may be trimmed, re-timed or resized on the way, so
    it is detected on its own."""
    if e.original == e.video_id or e.dataset == "folder":
        return None
    path = out / "tracks" / f"{_safe(e.original)}.json"
    if not path.is_file():
        return None
    tracks = json.loads(path.read_text())["tracks"]
    return [FaceTrack.from_geometry(t) for t in tracks] or None


def process_video(e: VideoEntry, cfg: PreprocessConfig, out: Path) -> dict[str, Any]:
    """Run one video to its journal record; every failure becomes a reason row, never an exception."""
    start = time.perf_counter()
    if not e.path.is_file():
        return {"video_id": e.video_id, "rows": [reason_row(e, "missing_file")]}
    clip_dir = out / "clips" / _safe(e.video_id)
    if clip_dir.exists():  # a retried video must not keep clips of an earlier attempt
        shutil.rmtree(clip_dir)
    reuse = _load_reuse(out, e) if cfg.reuse_original_tracks else None
    try:
        vf = extract_tracks(e.path, cfg.faces, reuse=reuse, clip=cfg.clip)
    except VideoDecodeError as err:
        return {"video_id": e.video_id, "rows": [reason_row(e, f"decode_error: {err}")]}
    except Exception as err:  # a bug or a library failure on one file must not stop the dataset
        log.debug("%s failed", e.video_id, exc_info=True)
        return {"video_id": e.video_id, "rows": [reason_row(e, f"error: {type(err).__name__}: {err}"[:300])]}
    if reuse is None:
        geometry = {"video_id": e.video_id, "tracks": [t.geometry() for t in vf.tracks]}
        write_json_atomic(out / "tracks" / f"{_safe(e.video_id)}.json", geometry, indent=None)
    if not vf.tracks:
        return {"video_id": e.video_id, "rows": [reason_row(e, "no_face", vf.fps)]}
    # what the file spends per pixel: a property of the encoding, not of any face in it
    bpp = e.path.stat().st_size * 8 / max(vf.num_frames * vf.width * vf.height, 1)
    rows = []
    for k, tr in enumerate(vf.tracks):
        rel = f"clips/{_safe(e.video_id)}/track{k}.zip"
        landmarks = tr.crop_landmarks(cfg.faces.margin, cfg.faces.size)
        write_clip(out / rel, tr.crops, cfg.clip.quality, cfg.clip.subsampling, landmarks=landmarks)
        rows.append(
            {
                **_base_row(e),
                "track": k,
                "clip": rel,
                "num_frames": len(tr.frame_indices),
                "fps": round(vf.fps, 4),
                "frame_indices": [int(i) for i in tr.frame_indices],
                "det_score": round(tr.det_score, 4),
                "face_size": round(tr.face_size, 1),
                "width": vf.width,
                "height": vf.height,
                "bits_per_pixel": round(bpp, 5),
                "landmarks": landmarks is not None,
                "status": "ok",
            }
        )
    return {
        "video_id": e.video_id,
        "rows": rows,
        "reused": reuse is not None,
        "seconds": round(time.perf_counter() - start, 3),
        "timings": {k: round(v, 3) for k, v in vf.timings.items()},
    }
