"""Worker processes for a dataset run that can be killed one by one (a hung decoder), unlike a
ProcessPoolExecutor. A worker takes a group of videos (an original and its fakes) at a time."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from .config import PreprocessConfig
from .datasets import VideoEntry
from .process import process_video, reason_row

log = logging.getLogger(__name__)

_POLL_S = 0.5


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


def _worker_main(conn, cfg: PreprocessConfig, out: Path, threads: int) -> None:
    """Child process: receives groups of entries, reports ("start", id) and ("done", record) per video."""
    set_threads(threads)
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


class Pool:
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
