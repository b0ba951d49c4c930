"""The results file of folder-scale scoring (``predict … --out results.jsonl`` or ``.csv``): one line per video,
written the moment it is scored, so a run over thousands of videos can be stopped and resumed.

A rerun reads the file first and skips every video already in it (by resolved path). A line cut short by a
crash is dropped and the video scored again. JSONL lines are ``Prediction.to_dict()`` (every track and
segment) or ``{"path", "verdict": "error", "error"}``. CSV rows hold the summary columns below.
"""

from __future__ import annotations

import contextlib
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
        self.kind = self._check_suffix(self.path)
        self.verdicts: Counter[str] = Counter()  # of the videos already in the file
        self.done: set[str] = set()
        if self.path.is_file():
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "csv" and not self.done:
            self.path.write_text(",".join(CSV_COLUMNS) + "\n")

    @staticmethod
    def _check_suffix(path: Path) -> str:
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise ValueError(f"--out {path}: give a .jsonl or a .csv file")
        return suffix[1:]

    def _read(self) -> None:
        records, cut = read_records(self.path, self.kind)
        if cut:
            log.warning("%s: its last line was cut short (an interrupted run); that video is scored again", self.path)
            with self.path.open("r+", encoding="utf-8") as f:
                f.truncate(cut)
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


def read_records(path: Path, kind: str) -> tuple[list[dict[str, Any]], int | None]:
    """The complete lines of a results file, and the byte length to cut it to when its last line is torn
    (``None`` when it is whole). Reads only: another rank may be appending to it."""
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a last line without its newline was cut short by a crash
    cut = len(complete.encode("utf-8")) if len(complete) < len(text) else None
    if kind == "jsonl":
        records = []
        for n, line in enumerate(complete.splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{n} is not a JSON line: not a results file of `predict --out`; "
                                 "give another --out") from None
        return records, cut
    reader = csv.DictReader(io.StringIO(complete))
    records = list(reader)
    if complete and "path" not in (reader.fieldnames or ()):  # a header alone is a file with no video yet
        raise ValueError(f"{path} has no `path` column: not a results file of `predict --out`")
    return records, cut


class ShardedResults:
    """The results of one torchrun rank (``RANK``/``WORLD_SIZE``) of ``predict --out OUT``.

    With one process it is ``ResultsFile(OUT)``. With several, rank r appends to its own part file
    ``OUT.parts/rank<r>.<ext>`` and skips every video already in OUT or in any part file (an earlier run
    may have had another world size); at the end rank 0 waits for the others' done markers and merges
    OUT and the parts into OUT (one line per video; written to a temporary file and renamed, so a crash
    leaves OUT whole), then removes the parts. A one-process run first merges the parts an interrupted
    sharded run left.
    """

    def __init__(self, out: str | Path, rank: int = 0, world: int = 1) -> None:
        from preprocessing.ranks import RankMarkers

        self.out = Path(out)
        self.kind = ResultsFile._check_suffix(self.out)
        self.rank, self.world = rank, world
        self.parts = self.out.with_name(self.out.name + ".parts")
        self.markers = RankMarkers(self.parts, rank, world)
        self.now: Counter[str] = Counter()
        if world == 1:
            if any(self.parts.glob(f"rank*{self.out.suffix}")):
                log.info("%s: merging the parts an interrupted sharded run left", self.parts)
                self._merge()
            self.file = ResultsFile(self.out)
            self.skip, self.earlier = self.file.done, self.file.verdicts
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        self.file = ResultsFile(self.parts / f"rank{rank}{self.out.suffix}")
        self.skip = set(self.file.done)
        self.earlier = Counter(self.file.verdicts)
        for other in self._sources():
            if other != self.file.path:
                for r in read_records(other, self.kind)[0]:
                    if _key(r["path"]) not in self.skip:
                        self.skip.add(_key(r["path"]))
                        self.earlier[r.get("verdict") or "error"] += 1

    def _sources(self) -> list[Path]:
        parts = sorted(self.parts.glob(f"rank*{self.out.suffix}")) if self.parts.is_dir() else []
        return ([self.out] if self.out.is_file() else []) + parts

    def begin(self) -> None:
        """Meet the other ranks (after removing this rank's stale marker); nothing with one process."""
        if self.world > 1:
            self.markers.begin()

    def __contains__(self, video: str | Path) -> bool:
        return _key(video) in self.skip

    def write(self, result: Prediction | tuple[str, str]) -> None:
        self.file.write(result)
        self.now[result.verdict if isinstance(result, Prediction) else "error"] += 1

    def finish(self) -> Counter[str] | None:
        """This rank is done: the verdict counts of OUT, all videos. Rank 0 of several first waits for the
        others and merges their parts; other ranks return None (their lines reach OUT when rank 0 merges)."""
        if self.world == 1:
            return self.earlier + self.now
        self.markers.finish()
        if self.rank != 0:
            return None
        self.markers.wait_all()
        self.markers.clear()
        return self._merge()

    def _merge(self) -> Counter[str]:
        seen: set[str] = set()
        total: Counter[str] = Counter()
        body = io.StringIO()
        writer = csv.DictWriter(body, CSV_COLUMNS, extrasaction="ignore")
        if self.kind == "csv":
            writer.writeheader()
        for src in self._sources():
            for rec in read_records(src, self.kind)[0]:
                if _key(rec["path"]) in seen:  # a video twice (a crash between rename and cleanup): once
                    continue
                seen.add(_key(rec["path"]))
                total[rec.get("verdict") or "error"] += 1
                if self.kind == "csv":
                    writer.writerow(rec)  # through the csv module: a quoted field may hold a newline
                else:
                    body.write(json.dumps(rec) + "\n")  # the line ResultsFile.write wrote
        tmp = self.out.with_name(self.out.name + ".merging")
        tmp.write_text(body.getvalue(), encoding="utf-8")
        os.replace(tmp, self.out)
        for part in self.parts.glob(f"rank*{self.out.suffix}"):
            part.unlink()
        with contextlib.suppress(OSError):  # something else in the folder: leave it
            self.parts.rmdir()
        log.info("merged the parts of %s: %d videos", self.out, len(seen))
        return total


def _csv_row(r: dict[str, Any]) -> list[Any]:
    if r["verdict"] == "error":
        return [r["path"], "error", "", "", "", "", "", r["error"]]
    score = "" if r["score"] is None else f"{r['score']:.6f}"
    return [r["path"], r["verdict"], score, f"{r['threshold']:.6f}", r["counts"]["tracks"], r["counts"]["segments"],
            f"{r['timings']['total']:.2f}", r.get("reason") or ""]


def summary_lines(new: list[Prediction | tuple[str, str]], skipped: int, total: Counter[str] | None, seconds: float,
                  out: Path) -> list[str]:
    """What a folder-scale run prints at its end: verdict counts (this run, and in the file), failures, time.
    ``total``: the verdicts of every video in ``out`` (None on a rank whose part rank 0 merges)."""
    now = Counter(r.verdict if isinstance(r, Prediction) else "error" for r in new)
    order = ("fake", "real", "inconclusive", "error")
    lines = [f"scored {len(new)} video(s) in {seconds:.0f} s"
             + (f" ({seconds / len(new):.1f} s each)" if new else "")
             + (f"; {skipped} already in {out} were skipped" if skipped else ""),
             "this run: " + ", ".join(f"{now[k]} {k}" for k in order),
             f"{out}: " + (", ".join(f"{total[k]} {k}" for k in order) if total is not None
                           else "rank 0 merges every rank's part into it")]
    failures = [r for r in new if not isinstance(r, Prediction)]
    lines += [f"failed: {Path(p).name}: {why}" for p, why in failures[:10]]
    if len(failures) > 10:
        lines.append(f"… and {len(failures) - 10} more failures (see {out})")
    return lines
