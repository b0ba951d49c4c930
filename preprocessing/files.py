"""Atomic file writes: a file is either absent, its old version or complete, never half written.

Every writer of results that a rerun or another process reads (manifest, journals' companions,
clips, videos, checkpoints, configs, benchmark tables) goes through ``atomic_path``: write to a
sibling temporary file, then rename it over the target (``os.replace`` is atomic on POSIX and
Windows within one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    The temporary name keeps the suffix (``.mp4``, ``.zip``), so writers that pick a format by
    extension still work; on an exception it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")
