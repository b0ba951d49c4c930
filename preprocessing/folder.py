"""Folders of videos: ``real/`` + ``fake/<method>/`` trees, or a CSV, with methods, identities and splits
that never put one identity on both sides.

Tree: every video under ``real/`` is real; under ``fake/<method>/…`` it is a fake of that method (a video
directly in ``fake/`` has method ``folder``). Each video is its own identity.

CSV: ``path,label[,split]`` by position, or any order under a header row naming the columns ``path``
(or file/filename/video), ``label``, ``split``, ``method``, ``identity``, ``original`` (other columns are
ignored). Paths are relative to the root. ``label`` is real/fake/0/1; a real video's method is ``real`` (or
empty), a fake's is a name of letters, digits and ``_.+-`` (empty: ``folder``); ``identity`` groups videos
of one person or source photo (empty: the video alone); ``original`` names, for a fake made from a real
video of the CSV, that real video's path (as DFDC's metadata does): the fake shares its identity, so the
two never land on different sides, and the pair can be compared directly.

Splits: a row's ``split`` is kept (and given to every other video of its identity); the identities
left are split per stratum (the set of methods an identity has videos of): ``test_fraction`` and
``val_fraction`` of them, rounded, ordered by a seeded hash, so counts are exact and reproducible.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from pathlib import Path

from .entries import VIDEO_EXTENSIONS, DatasetError, VideoEntry, fail, hash_fraction, rel

_LABELS = {"0": 0, "real": 0, "1": 1, "fake": 1}
_SPLITS = ("train", "val", "test")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_ALIASES = {"file": "path", "filename": "path", "video": "path"}
_COLUMNS = ("path", "label", "split", "method", "identity", "original")
FAKE_DEFAULT_METHOD = "folder"


def index_folder(root: Path, csv_path: Path | None = None, val_fraction: float = 0.1, seed: int = 0,
                 test_fraction: float = 0.0) -> list[VideoEntry]:
    """The videos of a folder dataset (tree or CSV) with methods, identities and identity-grouped splits."""
    rows = _csv_rows(root, csv_path) if csv_path is not None else _tree_rows(root)
    entries = []
    for r in rows:
        vid = _video_id(r["path"], root)
        entries.append(VideoEntry(vid, r["path"], rel(r["path"], root), "folder", r["method"], r["label"],
                                  r["split"], vid, r["identity"] or vid))
    if any(r.get("original") for r in rows):
        entries = _link_originals(entries, rows, root, csv_path)
    splits = _identity_splits(entries, val_fraction, test_fraction, seed, root)
    return [VideoEntry(e.video_id, e.path, e.source, e.dataset, e.method, e.label, splits[e.identity],
                       e.original, e.identity) for e in entries]


def _video_id(path: Path, root: Path) -> str:
    return f"folder/{rel(path, root)}"


def _link_originals(entries: list[VideoEntry], rows: list[dict], root: Path, csv_path: Path | None
                    ) -> list[VideoEntry]:
    """Fakes of the CSV's ``original`` column point at their real source and take its identity."""
    by_id = {e.video_id: e for e in entries}
    out, problems = [], []
    for n, (e, r) in enumerate(zip(entries, rows, strict=True), 1):
        if not r.get("original"):
            out.append(e)
            continue
        where = f"{Path(csv_path).name if csv_path else 'CSV'} row {n}"
        src = by_id.get(_video_id(r["original"], root))
        if e.label == 0:
            problems.append(f"{where}: a real video has no original (only a fake made from a real video does)")
        elif src is None:
            problems.append(f"{where}: original {rel(r['original'], root)!r} is not a video of the CSV")
        elif src.label != 0:
            problems.append(f"{where}: original {src.source!r} is a fake; an original is a real video")
        elif r["identity"] and r["identity"] != src.identity:
            problems.append(f"{where}: identity {r['identity']!r} differs from its original's ({src.identity!r}); "
                            "a fake shows its original's person: give the same identity, or leave it empty")
        else:
            out.append(VideoEntry(e.video_id, e.path, e.source, e.dataset, e.method, e.label, e.split,
                                  src.video_id, src.identity))
    if problems:
        raise fail(f"folder dataset {root} has problems", problems)
    return out


def _tree_rows(root: Path) -> list[dict]:
    subdirs = {name: root / name for name in ("real", "fake") if (root / name).is_dir()}
    if not subdirs:
        raise DatasetError(f"{root}: expected real/ and fake/ subfolders with videos, or a CSV of "
                           "path,label[,split,method,identity] (--csv)")
    rows = []
    for name, d in subdirs.items():
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
                parts = p.relative_to(d).parts
                method = "real" if name == "real" else (parts[0] if len(parts) > 1 else FAKE_DEFAULT_METHOD)
                rows.append({"path": p, "label": _LABELS[name], "split": "", "method": method, "identity": ""})
    if not rows:
        raise DatasetError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) under real/ or fake/")
    return rows


def _csv_rows(root: Path, csv_path: Path) -> list[dict]:
    csv_path = csv_path if csv_path.is_absolute() or csv_path.exists() else root / csv_path
    if not csv_path.is_file():
        raise DatasetError(f"CSV not found: {csv_path}")
    with open(csv_path, newline="") as f:
        lines = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    columns = list(_COLUMNS[:3])  # positional: path,label[,split]
    first = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in lines[0]] if lines else []
    if "path" in first:
        columns, lines = first, lines[1:]
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise DatasetError(f"{csv_path.name}: the header has no {' or '.join(missing)} column")
    rows, problems = [], []
    for n, line in enumerate(lines, 1):
        cell = {c: (line[i].strip() if i < len(line) else "") for i, c in enumerate(columns) if c in _COLUMNS}
        where = f"{csv_path.name} row {n}"
        label = _LABELS.get(cell.get("label", "").lower())
        split = cell.get("split", "").lower()
        method = cell.get("method", "")
        if label is None:
            problems.append(f"{where}: expected a label 0/1/real/fake, got {cell.get('label', '')!r} in {line}")
            continue
        if split not in ("", *_SPLITS):
            problems.append(f"{where}: unknown split {split!r} (train, val or test)")
            continue
        if label == 0 and method not in ("", "real"):
            problems.append(f"{where}: a real video has method 'real' (or none), got {method!r}")
            continue
        if label == 1 and method == "real":
            problems.append(f"{where}: a fake video cannot have method 'real'")
            continue
        if method and not _NAME.fullmatch(method):
            problems.append(f"{where}: method {method!r} must be letters, digits and _.+- (e.g. vasa1)")
            continue
        p, orig = Path(cell.get("path", "")), cell.get("original", "")
        rows.append({"path": p if p.is_absolute() else root / p, "label": label, "split": split,
                     "method": method or ("real" if label == 0 else FAKE_DEFAULT_METHOD),
                     "identity": cell.get("identity", ""),
                     "original": (Path(orig) if Path(orig).is_absolute() else root / orig) if orig else None})
    if problems:
        raise fail(f"folder dataset {root} has problems", problems)
    return rows


def _identity_splits(entries: list[VideoEntry], val_fraction: float, test_fraction: float, seed: int,
                     root: Path) -> dict[str, str]:
    """identity → split: the CSV's where given (one split per identity), the rest drawn per stratum."""
    fixed: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    methods: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        methods[e.identity].add(e.method)
        if e.split:
            fixed[e.identity].add(e.split)
            where.setdefault((e.identity, e.split), e.source)
    clashes = [f"identity {i!r} is in " + " and ".join(f"{s} ({where[i, s]})" for s in sorted(s_))
               for i, s_ in fixed.items() if len(s_) > 1]
    if clashes:
        raise fail(f"folder dataset {root}: an identity must stay in one split", clashes)
    out = {i: next(iter(s)) for i, s in fixed.items()}
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for identity, ms in methods.items():
        if identity not in out:
            strata[tuple(sorted(ms))].append(identity)
    for ids in strata.values():
        ids.sort(key=lambda i: hash_fraction(i, seed))
        n = len(ids)
        n_test = math.floor(n * test_fraction + 0.5)
        n_val = min(math.floor(n * val_fraction + 0.5), n - n_test)
        for k, identity in enumerate(ids):
            out[identity] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return out
