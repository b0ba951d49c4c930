"""Dataset preprocessing: index -> shard -> worker processes -> journals -> one manifest.

Every finished video appends one record (its manifest rows) to this rank's journal in
``<out>/.state/``; a rerun reads the journals and skips videos already done (failed ones only
with ``retry_failed``). Work is grouped by original: a real video and its fakes go to the same
worker, the real one first, so fakes crop the original's tracks without detecting again.
Under torchrun (RANK/WORLD_SIZE) each rank takes every world_size-th group; rank 0 waits for
the others' done markers and merges all journals into the manifest. Where torchrun also gives a
rendezvous (MASTER_ADDR/MASTER_PORT), the ranks meet once at the start, after each has removed its
marker of an earlier, interrupted run, so rank 0 can never take a stale marker for a finished rank.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .clips import write_clip
from .config import PreprocessConfig
from .datasets import VideoEntry, index_dataset
from .faces import FaceTrack, extract_tracks
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .video import VideoDecodeError

log = logging.getLogger(__name__)

FINAL = ("ok", "no_face")  # statuses a rerun never retries
_POLL_S = 0.5


class OutputMismatchError(ValueError):
    """The output folder was made with other face/clip settings; mixing them would corrupt the dataset."""


# --------------------------------------------------------------------------- one video


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
        "status": status,
    }


def _load_reuse(out: Path, e: VideoEntry) -> list[FaceTrack] | None:
    if e.original == e.video_id:
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
        vf = extract_tracks(e.path, cfg.faces, reuse=reuse)
    except VideoDecodeError as err:
        return {"video_id": e.video_id, "rows": [reason_row(e, f"decode_error: {err}")]}
    except Exception as err:  # a bug or a library failure on one file must not stop the dataset
        log.debug("%s failed", e.video_id, exc_info=True)
        return {"video_id": e.video_id, "rows": [reason_row(e, f"error: {type(err).__name__}: {err}"[:300])]}
    if reuse is None:
        geometry = {"video_id": e.video_id, "tracks": [t.geometry() for t in vf.tracks]}
        track_path = out / "tracks" / f"{_safe(e.video_id)}.json"
        track_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = track_path.with_name(f".{track_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(geometry))
        tmp.replace(track_path)
    if not vf.tracks:
        return {"video_id": e.video_id, "rows": [reason_row(e, "no_face", vf.fps)]}
    rows = []
    for k, tr in enumerate(vf.tracks):
        rel = f"clips/{_safe(e.video_id)}/track{k}.zip"
        write_clip(out / rel, tr.crops, cfg.clip.quality, cfg.clip.subsampling)
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


# --------------------------------------------------------------------------- worker processes


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


def _worker_main(conn, cfg: PreprocessConfig, out: Path, threads: int) -> None:
    """Child process: receives groups of entries, reports ("start", id) and ("done", record) per video."""
    _set_threads(threads)
    while True:
        job = conn.recv()
        if job is None:
            return
        for e in job:
            conn.send(("start", e.video_id))
            conn.send(("done", process_video(e, cfg, out)))


@dataclasses.dataclass
class _Worker:
    proc: Any
    conn: Any
    job: list[VideoEntry] = dataclasses.field(default_factory=list)  # videos sent and not done; [] = free
    current: VideoEntry | None = None
    since: float = 0.0


class _Pool:
    """Worker processes that can be killed one by one (a hung decoder), unlike a ProcessPoolExecutor."""

    def __init__(self, n: int, cfg: PreprocessConfig, out: Path, threads: int) -> None:
        self.ctx = mp.get_context("spawn")  # torch + fork is unsafe once threads exist
        self.args = (cfg, out, threads)
        self.workers = [self._start() for _ in range(n)]

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, *self.args), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _restart(self, w: _Worker) -> None:
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        fresh = self._start()
        w.proc, w.conn, w.job, w.current = fresh.proc, fresh.conn, [], None

    def run(self, groups: list[list[VideoEntry]], timeout: float, on_record: Callable[[dict], None]) -> None:
        queue = collections.deque(groups)
        try:
            while True:
                for w in self.workers:
                    if not w.job and queue:
                        w.job = list(queue.popleft())
                        w.since = time.monotonic()
                        w.conn.send(w.job)
                busy = [w for w in self.workers if w.job]
                if not busy:
                    return
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=_POLL_S)
                for w in busy:
                    self._drain(w, on_record, queue)
                now = time.monotonic()
                for w in busy:
                    if w.job and now - w.since > timeout:
                        victim = (w.current or w.job[0]).video_id
                        log.warning("%s: no result after %.0f s, worker killed", victim, timeout)
                        self._fail_current(w, "timeout", on_record, queue)
        finally:
            for w in self.workers:
                with contextlib.suppress(OSError):  # a worker already gone; join/kill below still apply
                    w.conn.send(None)
                w.proc.join(2)
                if w.proc.is_alive():
                    w.proc.kill()

    def _drain(self, w: _Worker, on_record: Callable[[dict], None], queue: collections.deque) -> None:
        with contextlib.suppress(EOFError, OSError):  # a dead worker's pipe: handled just below
            while w.job and w.conn.poll():
                kind, payload = w.conn.recv()
                if kind == "start":
                    w.current = next(e for e in w.job if e.video_id == payload)
                    w.since = time.monotonic()
                elif kind == "done":
                    on_record(payload)
                    w.job = [e for e in w.job if e.video_id != payload["video_id"]]
                    w.current = None
        if w.job and not w.proc.is_alive():
            code = w.proc.exitcode
            log.warning("worker died (exit code %s) on %s", code, (w.current or w.job[0]).video_id)
            self._fail_current(w, f"error: worker died (exit code {code})", on_record, queue)

    def _fail_current(self, w: _Worker, status: str, on_record: Callable[[dict], None], queue) -> None:
        victim = w.current or w.job[0]
        on_record({"video_id": victim.video_id, "rows": [reason_row(victim, status)]})
        rest = [e for e in w.job if e.video_id != victim.video_id]
        if rest:  # the other videos of the group start again on a fresh worker
            queue.appendleft(rest)
        self._restart(w)


# --------------------------------------------------------------------------- the dataset run


def dist_env(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world_size) from the arguments, else torchrun's RANK/WORLD_SIZE, else (0, 1)."""
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    r = rank if rank is not None else int(os.environ.get("RANK", "0"))
    if world < 1 or not 0 <= r < world:
        raise ValueError(f"rank {r} is not within world_size {world}")
    return r, world


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


def _settings_guard(out: Path, cfg: PreprocessConfig) -> None:
    """Refuse to resume into an output folder made with other face or clip settings."""
    settings = {
        "faces": dataclasses.asdict(cfg.faces),
        "clip": dataclasses.asdict(cfg.clip),
        "reuse_original_tracks": cfg.reuse_original_tracks,
    }
    path = state_dir(out) / "settings.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(settings)):
            changed = sorted(k for k in settings if old.get(k) != json.loads(json.dumps(settings[k])))
            raise OutputMismatchError(
                f"out: {out} holds clips made with other settings ({', '.join(changed)}); "
                "use a new output folder or the old settings"
            )
    else:
        tmp = path.with_name(f".settings.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(settings, indent=1))
        tmp.replace(path)


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


def start_barrier(rank: int, world: int) -> bool:
    """Meet the other ranks once over gloo when torchrun gave a rendezvous; False when there is none.

    Only the start is a barrier: the end is a file poll, because ranks may finish hours apart.
    """
    if world == 1 or not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
        return False
    import datetime

    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        return True
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(hours=1))
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return True


def run_preprocess(cfg: PreprocessConfig, rank: int | None = None, world_size: int | None = None) -> Path:
    """Preprocess the dataset of ``cfg`` into ``<cfg.out>/manifest.jsonl`` and return that path.

    Resumable; raises DatasetError for a bad tree. With world_size > 1 only rank 0 writes the
    manifest, after every rank has finished; other ranks return the path it will have.
    """
    cfg.validate()
    rank, world = dist_env(rank, world_size)
    out = Path(cfg.out).expanduser()
    state_dir(out).mkdir(parents=True, exist_ok=True)
    _settings_guard(out, cfg)
    marker = state_dir(out) / f"done-rank{rank}"
    marker.unlink(missing_ok=True)
    if world > 1 and not start_barrier(rank, world):
        log.warning("no torchrun rendezvous (MASTER_ADDR/MASTER_PORT): remove %s/done-rank* left by an "
                    "interrupted earlier run before starting all ranks", state_dir(out))
    t0 = time.perf_counter()

    groups = limit_groups(group_entries(index_dataset(cfg)), cfg.limit)
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
                _set_threads(cfg.threads_per_worker)
            for g in todo:
                for e in g:
                    on_record(process_video(e, cfg, out))
        elif todo:
            _Pool(min(cfg.workers, len(todo)), cfg, out, threads).run(todo, cfg.timeout, on_record)
    bar.close()
    marker.write_text(json.dumps({"rank": rank, "world_size": world, "time": time.time()}))

    manifest = out / MANIFEST_NAME
    if rank != 0:
        log.info("rank %d done in %.1f s; rank 0 writes %s", rank, time.perf_counter() - t0, manifest)
        return manifest
    markers = [state_dir(out) / f"done-rank{r}" for r in range(world)]
    if not all(m.is_file() for m in markers):
        log.info("rank 0 waits for ranks %s", [r for r, m in enumerate(markers) if not m.is_file()])
    while not all(m.is_file() for m in markers):
        time.sleep(_POLL_S)
    merge_manifest(out, entries)
    for m in markers:
        m.unlink(missing_ok=True)
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
