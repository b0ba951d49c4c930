"""Indexing raw dataset trees (DFDC, FaceForensics++, plain folders) into a list of videos with labels,
methods, identities, splits and originals. Nothing is decoded here; problems in a tree become one
DatasetError listing them. DFDC and FF++ keep their official split rules; folders are in ``folder.py``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .entries import FFPP_METHODS, VIDEO_EXTENSIONS, DatasetError, VideoEntry, fail, hash_fraction, rel
from .folder import index_folder

if TYPE_CHECKING:
    from .config import PreprocessConfig

log = logging.getLogger(__name__)

FFPP_SPLITS_URL = "https://github.com/ondyari/FaceForensics/tree/master/dataset/splits"

__all__ = ["FFPP_METHODS", "DatasetError", "VideoEntry", "hash_fraction", "index_dataset", "index_dfdc", "index_ffpp",
           "index_folder"]


def index_dataset(cfg: PreprocessConfig) -> list[VideoEntry]:
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset root is not a folder: {root}")
    if cfg.dataset == "dfdc":
        entries = index_dfdc(root, cfg.val_fraction, cfg.split_by_part, cfg.seed)
    elif cfg.dataset == "ffpp":
        split_dir = Path(cfg.split_dir).expanduser() if cfg.split_dir else None
        entries = index_ffpp(root, cfg.compression, cfg.methods, split_dir)
    else:
        csv_path = Path(cfg.csv).expanduser() if cfg.csv else None
        entries = index_folder(root, csv_path, cfg.val_fraction, cfg.seed, cfg.test_fraction)
    ids = [e.video_id for e in entries]
    if len(set(ids)) != len(ids):  # a bug guard: ids are built to be unique
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise fail("duplicate video ids", dup)
    missing = [e.source for e in entries if not e.path.is_file()]
    if missing:
        log.warning(
            "%d listed videos are absent (recorded as 'missing_file'), e.g. %s", len(missing), ", ".join(missing[:3])
        )
    return entries


# --------------------------------------------------------------------------- DFDC


def index_dfdc(root: Path, val_fraction: float = 0.1, split_by_part: bool = False, seed: int = 0) -> list[VideoEntry]:
    """``dfdc_train_part_*/metadata.json`` folders (or root itself) and test folders with ``labels.csv``."""
    parts = sorted(
        (p for p in root.glob("dfdc_train_part_*") if p.is_dir()), key=lambda p: (_part_number(p.name), p.name)
    )
    if (root / "metadata.json").is_file():
        parts.insert(0, root)
    tests = [d for d in [root, *sorted(p for p in root.iterdir() if p.is_dir())] if (d / "labels.csv").is_file()]
    if not parts and not tests:
        raise DatasetError(
            f"no DFDC data under {root}: expected dfdc_train_part_*/metadata.json folders "
            "(or a metadata.json in the root) or a test folder with labels.csv"
        )
    problems: list[str] = []
    entries: list[VideoEntry] = []
    part_split: dict[str, str] = {}
    every = round(1 / val_fraction) if val_fraction > 0 else 0
    for k, part in enumerate(parts):
        # DFDC winner's scheme: whole parts on one side; every m-th part (by number) goes to val.
        part_split[part.name] = "val" if split_by_part and every and k % every == every - 1 else "train"
        meta_path = part / "metadata.json"
        if not meta_path.is_file():
            problems.append(f"{rel(part, root)}: metadata.json missing")
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            problems.append(f"{rel(meta_path, root)}: unreadable ({e})")
            continue
        if not isinstance(meta, dict):
            problems.append(f"{rel(meta_path, root)}: expected an object mapping file name -> info")
            continue
        for name, info in sorted(meta.items()):
            label = str(info.get("label", "")).upper() if isinstance(info, dict) else ""
            if label not in ("REAL", "FAKE"):
                problems.append(f"{rel(meta_path, root)}: {name}: unknown label {info!r} (expected REAL or FAKE)")
                continue
            vid = f"dfdc/{part.name}/{name}"
            original = info.get("original") if label == "FAKE" else None
            entries.append(
                VideoEntry(
                    video_id=vid,
                    path=part / name,
                    source=rel(part / name, root),
                    dataset="dfdc",
                    method="dfdc" if label == "FAKE" else "real",
                    label=int(label == "FAKE"),
                    split="test" if str(info.get("split", "")).lower() == "test" else "",
                    original=f"dfdc/{part.name}/{original}" if original else vid,
                )
            )
        unlisted = {p.name for p in part.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS} - set(meta)
        if unlisted:
            log.warning("%s: %d videos not in metadata.json are ignored", rel(part, root) or ".", len(unlisted))
    for test in tests:
        entries += _dfdc_test(test, root, problems)
    if problems:
        raise fail(f"DFDC tree {root} has problems", problems)
    # Split by the group (the original) so a fake never lands on another side than its source: the groups
    # in the order of a seeded hash, the first round(n · val_fraction) of them (at least one) to val.
    groups = sorted({e.original for e in entries if not e.split}, key=lambda g: hash_fraction(g, seed))
    n_val = max(1, round(len(groups) * val_fraction)) if val_fraction > 0 and len(groups) > 1 else 0
    val_groups = set(groups[:n_val])
    out = []
    for e in entries:
        if e.split:
            out.append(e)
            continue
        if split_by_part:
            source_part = e.original.split("/")[1]
            split = part_split.get(source_part, part_split[e.video_id.split("/")[1]])
        else:
            split = "val" if e.original in val_groups else "train"
        out.append(replace(e, split=split))
    return out


def _part_number(name: str) -> int:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _dfdc_test(folder: Path, root: Path, problems: list[str]) -> list[VideoEntry]:
    """The public test set: labels.csv with filename,label (0 real / 1 fake)."""
    path = folder / "labels.csv"
    out = []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows and rows[0] and rows[0][0].strip().lower() == "filename":
        rows = rows[1:]
    for n, row in enumerate(rows, 2):
        if not row:
            continue
        if len(row) < 2 or row[1].strip() not in ("0", "1"):
            problems.append(f"{rel(path, root)}:{n}: expected filename,label with label 0 or 1, got {row}")
            continue
        name, label = row[0].strip(), int(row[1])
        vid = f"dfdc/{folder.name}/{name}"
        out.append(
            VideoEntry(
                vid, folder / name, rel(folder / name, root), "dfdc", "dfdc" if label else "real", label, "test", vid
            )
        )
    return out


# --------------------------------------------------------------------------- FaceForensics++


def _read_ffpp_splits(split_dir: Path) -> dict[str, list[tuple[str, str]]]:
    files = {s: split_dir / f"{s}.json" for s in ("train", "val", "test")}
    absent = [p.name for p in files.values() if not p.is_file()]
    if absent:
        raise DatasetError(
            f"FF++ split files {', '.join(absent)} not found in {split_dir}. Download train.json, val.json "
            f"and test.json from {FFPP_SPLITS_URL} and put them there (or pass split_dir / --split-dir)."
        )
    splits = {}
    for name, path in files.items():
        try:
            pairs = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
        ):
            raise DatasetError(f'{path}: expected a list of pairs like [["953", "974"], ...]')
        splits[name] = [(a, b) for a, b in pairs]
    seen: dict[str, str] = {}
    for name, pairs in splits.items():
        for a, b in pairs:
            for x in (a, b):
                if seen.setdefault(x, name) != name:
                    raise DatasetError(f"{split_dir}: video {x} is in both {seen[x]}.json and {name}.json")
    return splits


def index_ffpp(
    root: Path, compression: str = "c23", methods: list[str] | None = None, split_dir: Path | None = None
) -> list[VideoEntry]:
    """FF++ by the official split pairs: pair [a, b] -> reals a, b and fakes a_b, b_a of every method.

    A fake TTT_SSS shows target video TTT with the face of SSS, so its original is real TTT.
    """
    methods = list(methods or FFPP_METHODS)
    if split_dir is None:
        split_dir = root / "splits" if (root / "splits").is_dir() else root
    splits = _read_ffpp_splits(split_dir)
    real_dir = root / "original_sequences" / "youtube" / compression / "videos"
    dirs = {m: root / "manipulated_sequences" / m / compression / "videos" for m in methods}
    absent = [d for d in (real_dir, *dirs.values()) if not d.is_dir()]
    if absent:
        raise fail(
            f"FF++ tree {root} lacks folders for compression {compression!r} "
            "(download them, or choose other methods/compression)",
            [rel(d, root) for d in absent],
        )
    entries = []
    listed: set[Path] = set()
    for split, pairs in splits.items():
        for a, b in pairs:
            for x in (a, b):
                p = real_dir / f"{x}.mp4"
                listed.add(p)
                rid = f"ffpp/real/{compression}/{x}"
                entries.append(VideoEntry(rid, p, rel(p, root), "ffpp", "real", 0, split, rid))
            for m, d in dirs.items():
                for target, src in ((a, b), (b, a)):
                    p = d / f"{target}_{src}.mp4"
                    listed.add(p)
                    entries.append(
                        VideoEntry(
                            f"ffpp/{m}/{compression}/{target}_{src}",
                            p,
                            rel(p, root),
                            "ffpp",
                            m,
                            1,
                            split,
                            f"ffpp/real/{compression}/{target}",
                        )
                    )
    present = {p for d in (real_dir, *dirs.values()) for p in d.glob("*.mp4")}
    if present - listed:
        log.warning("FF++: %d videos in the tree are in no split file and are ignored", len(present - listed))
    return entries
