"""Work split over torchrun ranks that finish hours apart: each rank takes its share, writes its own
files and a done marker; rank 0 waits for every marker, then merges.

There is no process group during the work (a rank may take hours longer than another). Where torchrun
gives a rendezvous (MASTER_ADDR/MASTER_PORT) the ranks meet once at the start, after each has removed
its marker of an earlier, interrupted run, so rank 0 never takes a stale marker for a finished rank.
Used by ``preprocess`` (journals → manifest) and ``predict --out`` (part files → one results file).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

_POLL_S = 0.5


def dist_env(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world_size) from the arguments, else torchrun's RANK/WORLD_SIZE, else (0, 1)."""
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    r = rank if rank is not None else int(os.environ.get("RANK", "0"))
    if world < 1 or not 0 <= r < world:
        raise ValueError(f"rank {r} is not within world_size {world}")
    return r, world


def start_barrier(rank: int, world: int) -> bool:
    """Meet the other ranks once over gloo when torchrun gave a rendezvous; False when there is none."""
    if world == 1 or not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
        return False
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


class RankMarkers:
    """The done markers ``<folder>/done-rank<r>`` of one sharded run, seen from rank ``rank``."""

    def __init__(self, folder: Path, rank: int, world: int) -> None:
        self.folder, self.rank, self.world = Path(folder), rank, world
        self.mine = self.folder / f"done-rank{rank}"

    def begin(self) -> None:
        """Remove this rank's marker of an earlier run, then meet the other ranks (when there is a rendezvous)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mine.unlink(missing_ok=True)
        if self.world > 1 and not start_barrier(self.rank, self.world):
            log.warning("no torchrun rendezvous (MASTER_ADDR/MASTER_PORT): remove %s/done-rank* left by an "
                        "interrupted earlier run before starting all ranks", self.folder)

    def finish(self) -> None:
        self.mine.write_text(json.dumps({"rank": self.rank, "world_size": self.world, "time": time.time()}))

    def wait_all(self) -> None:
        """Rank 0: block until every rank has finished (a file poll, not a collective)."""
        markers = [self.folder / f"done-rank{r}" for r in range(self.world)]
        if not all(m.is_file() for m in markers):
            log.info("rank 0 waits for ranks %s", [r for r, m in enumerate(markers) if not m.is_file()])
        while not all(m.is_file() for m in markers):
            time.sleep(_POLL_S)

    def clear(self) -> None:
        for r in range(self.world):
            (self.folder / f"done-rank{r}").unlink(missing_ok=True)
