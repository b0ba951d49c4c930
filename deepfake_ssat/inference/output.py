"""The results file of folder-scale scoring (``predict … --out results.jsonl`` or ``.csv``): one line per video,
written the moment it is scored, so a run over thousands of videos can be stopped and resumed.

A rerun reads the file first and skips every video already in it (by resolved path). A line cut short by a
crash is dropped and the video scored again. JSONL lines are ``Prediction.to_dict()`` (every track and
segment) or ``{"path", "verdict": "error", "error"}``. CSV rows hold the summary columns below.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from .results import Prediction

log = logging.getLogger(__name__)

CSV_COLUMNS = ("path", "verdict", "fake_probability", "threshold", "tracks", "segments", "seconds", "error")


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


class ResultsFile:
    """Append-only results, one video per line; ``done`` holds the videos a previous run finished."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise ValueError(f"--out {self.path}: give a .jsonl or a .csv file")
        self.kind = suffix[1:]
        self.verdicts: Counter[str] = Counter()  # of the videos already in the file
        self.done: set[str] = set()
        if self.path.is_file():
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "csv" and not self.done:
            self.path.write_text(",".join(CSV_COLUMNS) + "\n")

    def _read(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        complete = text[: text.rfind("\n") + 1]  # a last line without its newline was cut short by a crash
        if len(complete) < len(text):
            log.warning("%s: its last line was cut short (an interrupted run); that video is scored again", self.path)
            with self.path.open("r+", encoding="utf-8") as f:
                f.truncate(len(complete.encode("utf-8")))
        if self.kind == "jsonl":
            records = []
            for n, line in enumerate(complete.splitlines(), 1):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"{self.path}:{n} is not a JSON line: not a results file of `predict --out`; "
                                     "give another --out") from None
        else:
            records = list(csv.DictReader(io.StringIO(complete)))
            if complete and (not records or "path" not in records[0]):
                raise ValueError(f"{self.path} has no `path` column: not a results file of `predict --out`")
        for r in records:
            self.done.add(_key(r["path"]))
            self.verdicts[r.get("verdict") or "error"] += 1

    def __contains__(self, video: str | Path) -> bool:
        """Whether a previous run (or this one) already wrote a line for ``video``."""
        return _key(video) in self.done

    def write(self, result: Prediction | tuple[str, str]) -> None:
        """Append one video's line and push it to disk before the next video starts."""
        if isinstance(result, Prediction):
            record: dict[str, Any] = result.to_dict()
        else:
            record = {"path": result[0], "verdict": "error", "error": result[1]}
        if self.kind == "jsonl":
            line = json.dumps(record) + "\n"
        else:
            buf = io.StringIO()
            csv.writer(buf).writerow(_csv_row(record))
            line = buf.getvalue()
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.done.add(_key(record["path"]))


def _csv_row(r: dict[str, Any]) -> list[Any]:
    if r["verdict"] == "error":
        return [r["path"], "error", "", "", "", "", "", r["error"]]
    score = "" if r["score"] is None else f"{r['score']:.6f}"
    return [r["path"], r["verdict"], score, f"{r['threshold']:.6f}", r["counts"]["tracks"], r["counts"]["segments"],
            f"{r['timings']['total']:.2f}", r.get("reason") or ""]


def summary_lines(new: list[Prediction | tuple[str, str]], skipped: int, earlier: Counter[str], seconds: float,
                  out: Path) -> list[str]:
    """What a folder-scale run prints at its end: verdict counts (this run, and in the file), failures, time."""
    now = Counter(r.verdict if isinstance(r, Prediction) else "error" for r in new)
    total = earlier + now
    order = ("fake", "real", "inconclusive", "error")
    lines = [f"scored {len(new)} video(s) in {seconds:.0f} s"
             + (f" ({seconds / len(new):.1f} s each)" if new else "")
             + (f"; {skipped} already in {out} were skipped" if skipped else ""),
             "this run: " + ", ".join(f"{now[k]} {k}" for k in order),
             f"{out}: " + ", ".join(f"{total[k]} {k}" for k in order)]
    failures = [r for r in new if not isinstance(r, Prediction)]
    lines += [f"failed: {Path(p).name}: {why}" for p, why in failures[:10]]
    if len(failures) > 10:
        lines.append(f"… and {len(failures) - 10} more failures (see {out})")
    return lines
