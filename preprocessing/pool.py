"""Worker processes that can be killed one by one (a hung decoder), unlike a ProcessPoolExecutor.

A job is a group of items (a dataset run sends an original and its fakes together); a worker runs
``work(item, *args)`` on each item of its group in order and sends the result back. A worker that hangs
past the timeout or dies is replaced; its item is reported through ``on_failure`` and the rest of its
group starts again on the fresh worker. Used by ``preprocess`` (one video to its manifest rows) and by
``predict --workers`` (one video to its face tracks).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

log = logging.getLogger(__name__)

_POLL_S = 0.5


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


def _worker_main(conn, work: Callable[..., Any], args: tuple, threads: int) -> None:
    """Child process: receives groups, reports ("start", i) and ("done", i, result) per item i of a group."""
    set_threads(threads)
    while True:
        job = conn.recv()
        if job is None:
            return
        for i, item in enumerate(job):
            conn.send(("start", i))
            conn.send(("done", i, work(item, *args)))


@dataclasses.dataclass
class _Worker:
    proc: Any
    conn: Any
    job: list[Any] = dataclasses.field(default_factory=list)  # the group sent; [] = free
    left: set[int] = dataclasses.field(default_factory=set)  # its positions not done yet
    current: int | None = None
    since: float = 0.0

    def victim(self) -> Any:
        return self.job[self.current if self.current is not None else min(self.left)]


class Pool:
    """``n`` spawned processes running ``work(item, *args)``; ``work`` must be a module-level function and
    catch its own errors (an exception it lets out kills the worker and counts as a crash)."""

    def __init__(self, n: int, work: Callable[..., Any], args: tuple, threads: int,
                 name: Callable[[Any], str] = str) -> None:
        self.ctx = mp.get_context("spawn")  # torch + fork is unsafe once threads exist
        self.args = (work, args, threads)
        self.name = name
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
        w.proc, w.conn, w.job, w.left, w.current = fresh.proc, fresh.conn, [], set(), None

    def run(self, groups: Sequence[Sequence[Any]], timeout: float, on_result: Callable[[Any, Any], None],
            on_failure: Callable[[Any, str], None]) -> None:
        """Run every item; ``on_result(item, result)`` as each finishes (in the calling process),
        ``on_failure(item, "timeout" | "error: worker died (exit code N)")`` for one that never did."""
        queue = collections.deque(list(g) for g in groups if len(g))
        try:
            while True:
                for w in self.workers:
                    if not w.job and queue:
                        w.job = queue.popleft()
                        w.left = set(range(len(w.job)))
                        w.since = time.monotonic()
                        w.conn.send(w.job)
                busy = [w for w in self.workers if w.job]
                if not busy:
                    return
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=_POLL_S)
                for w in busy:
                    self._drain(w, on_result, on_failure, queue)
                now = time.monotonic()
                for w in busy:
                    if w.job and now - w.since > timeout:
                        log.warning("%s: no result after %.0f s, worker killed", self.name(w.victim()), timeout)
                        self._fail_current(w, "timeout", on_failure, queue)
        finally:
            for w in self.workers:
                with contextlib.suppress(OSError):  # a worker already gone; join/kill below still apply
                    w.conn.send(None)
                w.proc.join(2)
                if w.proc.is_alive():
                    w.proc.kill()

    def _drain(self, w: _Worker, on_result, on_failure, queue: collections.deque) -> None:
        with contextlib.suppress(EOFError, OSError):  # a dead worker's pipe: handled just below
            while w.job and w.conn.poll():
                kind, i, *result = w.conn.recv()
                if kind == "start":
                    w.current, w.since = i, time.monotonic()
                elif kind == "done":
                    on_result(w.job[i], result[0])
                    w.left.discard(i)
                    w.current = None
                    if not w.left:
                        w.job = []
        if w.job and not w.proc.is_alive():
            code = w.proc.exitcode
            log.warning("worker died (exit code %s) on %s", code, self.name(w.victim()))
            self._fail_current(w, f"error: worker died (exit code {code})", on_failure, queue)

    def _fail_current(self, w: _Worker, status: str, on_failure, queue: collections.deque) -> None:
        victim = w.current if w.current is not None else min(w.left)
        on_failure(w.job[victim], status)
        rest = [w.job[i] for i in sorted(w.left) if i != victim]
        if rest:  # the other items of the group start again on a fresh worker
            queue.appendleft(rest)
        self._restart(w)
