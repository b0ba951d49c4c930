"""Dataset preprocessing: index -> shard -> worker processes -> journals -> one manifest.

Every finished video appends one record (its manifest rows) to this rank's journal in
``<out>/.state/``; a rerun reads the journals and skips videos already done (failed ones only
with ``retry_failed``). Work is grouped by original: a real video and its fakes go to the same
worker, the real one first, so fakes crop the original's tracks without detecting again.
Under torchrun (RANK/WORLD_SIZE) each rank takes every world_size-th group; rank 0 waits for
the others' done markers and merges all journals into the manifest (``ranks``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .config import PreprocessConfig, current_face_settings
from .datasets import VideoEntry, index_dataset
from .manifest import MANIFEST_NAME, read_manifest, read_settings, write_manifest, write_settings
from .pool import Pool, set_threads
from .process import process_video, reason_row
from .ranks import RankMarkers, dist_env
from .sample.options import INFO_FILE as SAMPLE_INFO

log = logging.getLogger(__name__)

FINAL = ("ok", "no_face")  # statuses a rerun never retries


class OutputMismatchError(ValueError):
    """The output folder was made with other face/clip settings; mixing them would corrupt the dataset."""


def _video_id(e: VideoEntry) -> str:
    return e.video_id


def group_entries(entries: list[VideoEntry]) -> list[list[VideoEntry]]:
    """Groups of (original first, then its fakes), sorted by the original's id: the unit of work."""
    ids = {e.video_id for e in entries}
    groups: dict[str, list[VideoEntry]] = collections.defaultdict(list)
    for e in entries:
        groups[e.original if e.original in ids else e.video_id].append(e)
    return [sorted(groups[k], key=lambda e: (e.video_id != k, e.video_id)) for k in sorted(groups)]


def limit_groups(groups: list[list[VideoEntry]], limit: int | None) -> list[list[VideoEntry]]:
    if limit is None:
        return groups
    out, n = [], 0
    for g in groups:
        if n >= limit:
            break
        out.append(g[: limit - n])
        n += len(out[-1])
    return out


def state_dir(out: Path) -> Path:
    return out / ".state"


def load_journals(out: Path) -> dict[str, dict[str, Any]]:
    """Latest record per video over all ranks' journals (a torn last line from a crash is ignored)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(state_dir(out).glob("journal-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                old = latest.get(rec["video_id"])
                if old is None or rec["t"] >= old["t"]:
                    latest[rec["video_id"]] = rec
    return latest


def record_status(rec: dict[str, Any]) -> str:
    return rec["rows"][0]["status"]


# The settings that decide what the clips hold: an output folder never mixes two of them.
_GUARDED = ("faces", "clip", "reuse_original_tracks")


def _settings_guard(out: Path, cfg: PreprocessConfig) -> None:
    """Refuse to resume into an output folder made with other face or clip settings."""
    settings = json.loads(json.dumps({
        "faces": dataclasses.asdict(cfg.faces),
        "clip": dataclasses.asdict(cfg.clip),
        "reuse_original_tracks": cfg.reuse_original_tracks,
        # what the data is, for the detector card of models trained on it
        "source": {"dataset": cfg.dataset,
                   "generator": "preprocessing.sample" if (Path(cfg.root) / SAMPLE_INFO).is_file() else None},
    }))
    old = read_settings(out)
    if old is not None:
        old = {**old, "faces": current_face_settings(old.get("faces") or {})}
        changed = [k for k in _GUARDED if old.get(k) != settings[k]]
        if changed:
            raise OutputMismatchError(
                f"out: {out} holds clips made with other settings ({', '.join(changed)}); "
                "use a new output folder or the old settings"
            )
    else:
        write_settings(out, settings)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    videos: dict[str, str] = {}
    for r in rows:
        videos.setdefault(r["video_id"], r["status"])
    reasons = collections.Counter(s.split(":")[0] for s in videos.values())
    ok = [r for r in rows if r["status"] == "ok"]
    return {
        "videos": len(videos),
        "ok": reasons.pop("ok", 0),
        "no_face": reasons.pop("no_face", 0),
        "failed": dict(reasons),
        "tracks": len(ok),
        "faces": sum(r["num_frames"] for r in ok),
    }


def merge_manifest(out: Path, entries: list[VideoEntry]) -> Path:
    """All ranks' journals -> the manifest of exactly ``entries`` (earlier runs' extras left out)."""
    records = load_journals(out)
    rows, absent = [], []
    for e in entries:
        rec = records.get(e.video_id)
        if rec is None:
            absent.append(e.video_id)
        else:
            rows.extend(rec["rows"])
    if absent:
        log.warning(
            "%d videos have no result yet (a rank failed?) and are not in the manifest, e.g. %s", len(absent), absent[0]
        )
    return write_manifest(out / MANIFEST_NAME, rows)


def run_preprocess(cfg: PreprocessConfig, rank: int | None = None, world_size: int | None = None) -> Path:
    """Preprocess the dataset of ``cfg`` into ``<cfg.out>/manifest.jsonl`` and return that path.

    Resumable; raises DatasetError for a bad tree. With world_size > 1 only rank 0 writes the
    manifest, after every rank has finished; other ranks return the path it will have.
    """
    cfg.validate()
    rank, world = dist_env(rank, world_size)
    out = Path(cfg.out).expanduser()
    # Index first: a wrong root or tree must fail before anything is written into the output folder.
    groups = limit_groups(group_entries(index_dataset(cfg)), cfg.limit)
    state_dir(out).mkdir(parents=True, exist_ok=True)
    _settings_guard(out, cfg)
    markers = RankMarkers(state_dir(out), rank, world)
    markers.begin()
    t0 = time.perf_counter()

    entries = [e for g in groups for e in g]
    mine = groups[rank::world]
    done = load_journals(out)
    todo, skipped = [], 0
    for g in mine:
        keep = [
            e
            for e in g
            if e.video_id not in done or (cfg.retry_failed and record_status(done[e.video_id]) not in FINAL)
        ]
        skipped += len(g) - len(keep)
        if keep:
            todo.append(keep)
    n_todo = sum(len(g) for g in todo)
    log.info(
        "rank %d/%d: %d videos in %d groups, %d to do, %d already done",
        rank,
        world,
        sum(len(g) for g in mine),
        len(mine),
        n_todo,
        skipped,
    )

    journal = state_dir(out) / f"journal-rank{rank}.jsonl"
    bar = tqdm(
        total=n_todo,
        desc=f"preprocess[{rank}]" if world > 1 else "preprocess",
        unit="video",
        disable=not cfg.progress,
        position=rank if world > 1 else None,
        dynamic_ncols=True,
    )
    failed = 0
    with open(journal, "a", encoding="utf-8") as jf:

        def on_record(rec: dict[str, Any]) -> None:
            nonlocal failed
            rec["t"] = time.time()
            jf.write(json.dumps(rec, separators=(",", ":")) + "\n")
            jf.flush()
            os.fsync(jf.fileno())
            if record_status(rec) not in FINAL:
                failed += 1
            bar.update(1)
            bar.set_postfix(failed=failed, refresh=False)

        threads = cfg.threads_per_worker or max(1, (os.cpu_count() or 1) // max(cfg.workers, 1))
        if todo and cfg.workers == 0:
            if cfg.threads_per_worker:
                set_threads(cfg.threads_per_worker)
            for g in todo:
                for e in g:
                    on_record(process_video(e, cfg, out))
        elif todo:
            Pool(min(cfg.workers, len(todo)), process_video, (cfg, out), threads, name=_video_id).run(
                todo, cfg.timeout, on_result=lambda _e, rec: on_record(rec),
                on_failure=lambda e, status: on_record({"video_id": e.video_id, "rows": [reason_row(e, status)]}))
    bar.close()
    markers.finish()

    manifest = out / MANIFEST_NAME
    if rank != 0:
        log.info("rank %d done in %.1f s; rank 0 writes %s", rank, time.perf_counter() - t0, manifest)
        return manifest
    markers.wait_all()
    merge_manifest(out, entries)
    markers.clear()
    s = summarize(read_manifest(manifest))
    log.info(
        "preprocessed %d videos in %.1f s (%d this run, %d skipped as done): %d ok, %d no face, failed %s; "
        "%d tracks, %d faces -> %s",
        s["videos"],
        time.perf_counter() - t0,
        n_todo,
        skipped,
        s["ok"],
        s["no_face"],
        s["failed"] or "none",
        s["tracks"],
        s["faces"],
        manifest,
    )
    return manifest
