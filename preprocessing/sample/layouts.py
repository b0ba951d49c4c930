"""The sample generator's output: which videos to write in the DFDC or FF++ layout, and writing them."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..entries import FFPP_METHODS
from ..video import video_codec, write_video
from .fakes import FakeCtx, render_fake
from .geometry import face_box
from .options import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_VIDEOS, INFO_FILE, LAYOUTS
from .real import RealSpec
from .sources import default_source, load_sources

log = logging.getLogger(__name__)



def _crf(compression: str) -> int:
    if compression == "raw":
        return 0
    m = re.fullmatch(r"c(\d{1,2})", compression)
    if not m or int(m.group(1)) > 51:
        raise ValueError(f"compression must be 'raw' or 'c<CRF 0-51>' like c23/c40, got {compression!r}")
    return int(m.group(1))


# ----------------------------------------------------------------------------- layouts


@dataclass
class _Job:
    """One video to write: a real (method None) or a fake of ``target`` with ``donor``'s face."""

    path: str  # relative to the output root
    target: int
    method: str | None = None
    donor: int | None = None


_LAYOUT_PARTS = {
    "dfdc": ("dfdc_train_part_*", "test"),
    "ffpp": ("original_sequences", "manipulated_sequences", "splits"),
}


def _prepare_out(out: Path, layout: str, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"sample output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"sample output folder {out} is not empty (pass overwrite=True / --overwrite)")
        # remove only what this generator writes, never the user's other files
        for pattern in (*_LAYOUT_PARTS[layout], INFO_FILE):
            for p in out.glob(pattern):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _dfdc_names(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list(string.ascii_lowercase))
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(letters, 10)) + ".mp4"
        if name not in names:
            names.append(name)
    return names


def _plan_dfdc(videos: int, seed: int) -> tuple[list[_Job], int, dict]:
    """Jobs for DFDC; the number of real specs needed; the files' metadata."""
    if videos < 2:
        raise ValueError(f"the DFDC sample needs videos >= 2 (a fake needs a donor), got {videos}")
    n_test = max(2, videos // 4)
    n_real = videos + n_test
    n_parts = min(videos, max(2, math.ceil(videos / 10)))
    names = _dfdc_names(np.random.default_rng((seed, 7)), 2 * n_real)
    jobs: list[_Job] = []
    meta: dict[str, dict[str, dict]] = {}
    labels: list[tuple[str, int]] = []
    for i in range(n_real):
        method = FFPP_METHODS[i % len(FFPP_METHODS)]
        real_name, fake_name = names[2 * i], names[2 * i + 1]
        if i < videos:  # train parts: a fake lives in its original's part
            folder = f"dfdc_train_part_{i % n_parts}"
            donor = (i + 1) % videos
            part = meta.setdefault(folder, {})
            part[real_name] = {"label": "REAL", "split": "train", "original": None}
            part[fake_name] = {"label": "FAKE", "split": "train", "original": real_name}
        else:  # public-test-like folder, its own identities/animations
            folder = "test"
            donor = videos + (i - videos + 1) % n_test
            labels += [(real_name, 0), (fake_name, 1)]
        jobs.append(_Job(f"{folder}/{real_name}", i))
        jobs.append(_Job(f"{folder}/{fake_name}", i, method, donor))
    return jobs, n_real, {"metadata": meta, "labels": labels}


def _plan_ffpp(videos: int, seed: int, compression: str) -> tuple[list[_Job], int, dict]:
    if videos < 6 or videos % 2:
        raise ValueError(f"the FF++ sample needs an even number of videos >= 6 (pairs for 3 splits), got {videos}")
    if videos > 1000:
        raise ValueError(f"FF++ ids have 3 digits: videos must be <= 1000, got {videos}")
    ids = [f"{i:03d}" for i in range(videos)]
    order = np.random.default_rng((seed, 8)).permutation(videos)
    pairs = [sorted([ids[order[2 * k]], ids[order[2 * k + 1]]]) for k in range(videos // 2)]
    n_eval = max(1, round(len(pairs) * 0.14))  # official 720/140/140
    splits = {"test": pairs[:n_eval], "val": pairs[n_eval:2 * n_eval], "train": pairs[2 * n_eval:]}
    jobs = [_Job(f"original_sequences/youtube/{compression}/videos/{i}.mp4", int(i)) for i in ids]
    for method in FFPP_METHODS:
        for a, b in pairs:
            for tgt, src in ((a, b), (b, a)):
                jobs.append(_Job(f"manipulated_sequences/{method}/{compression}/videos/{tgt}_{src}.mp4",
                                 int(tgt), method, int(src)))
    return jobs, videos, {"splits": {k: sorted(v) for k, v in splits.items()}}


def write_sample_dataset(
    layout: str,
    out: Path,
    videos: int | None = None,
    source: Path | None = None,
    seed: int = 0,
    frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_SIZE,
    compression: str = "c23",
    *,
    fps: int = DEFAULT_FPS,
    overwrite: bool = False,
) -> Path:
    """Write a tiny dataset in the official ``layout`` ("dfdc" or "ffpp") under ``out``; return ``out``.

    ``videos``: real source videos (DFDC train; default 8, plus ``max(2, videos // 4)`` for ``test/``,
    and one fake per real) or FF++ ids (default 12 → 6 pairs split 4/1/1, 12 reals + 48 fakes).
    ``source``: a folder of face images/videos to use instead of the scikit-image portrait.
    ``frames``/``size``/``fps``: clip length, square frame side (even), frame rate.
    ``compression``: FF++ folder name and H.264 CRF (``c23``, ``c40``, ``raw`` = lossless); DFDC uses
    it for the CRF only. A non-empty ``out`` is refused unless ``overwrite`` (which removes only
    what this generator writes).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown sample layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    videos = DEFAULT_VIDEOS[layout] if videos is None else int(videos)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if size < 32 or size % 2:
        raise ValueError(f"size must be an even number >= 32, got {size}")
    crf = _crf(compression)
    if layout == "dfdc":
        jobs, n_real, extra = _plan_dfdc(videos, seed)
    else:
        jobs, n_real, extra = _plan_ffpp(videos, seed, compression)
    out = Path(out)
    sources = load_sources(source, frames) if source is not None else [default_source()]
    _prepare_out(out, layout, overwrite)

    codec = video_codec(size, size)
    specs = [RealSpec.draw(sources[i % len(sources)], (seed, 1, i)) for i in range(n_real)]
    if codec != "h264":
        log.warning("writing MPEG-4 Part 2 (mp4v) with OpenCV: PyAV has no libx264 here or the size is odd")
    log.info("writing %d sample videos (%s layout, %d frames of %dx%d) to %s", len(jobs), layout, frames,
             size, size, out)

    from tqdm.auto import tqdm

    info_videos: dict[str, dict] = {}
    faces: dict[str, dict] = {}
    real_path = {j.target: j.path for j in jobs if j.method is None}
    cache: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    # jobs are grouped by target so each real clip is rendered once and then dropped
    by_target = sorted(range(len(jobs)), key=lambda k: (jobs[k].target, jobs[k].method is not None, k))
    for k in tqdm(by_target, desc=f"sample {layout}", unit="video", disable=len(jobs) <= 4):
        job = jobs[k]
        if job.target not in cache:
            cache.clear()
            cache[job.target] = specs[job.target].render(frames, size)
        real, lms = cache[job.target]
        if job.method is None:
            clip = real
            faces[job.path] = {
                "boxes": [[round(c, 1) for c in face_box(lm)] for lm in lms],
                "landmarks": [np.round(lm, 1).tolist() for lm in lms],
            }
        else:
            tgt, dnr = specs[job.target], specs[job.donor]
            same = dnr.source is tgt.source
            ctx = FakeCtx(tgt, dnr, dnr.mirror ^ (same and dnr.mirror == tgt.mirror), frames,
                           (seed, 2, FFPP_METHODS.index(job.method), job.target, job.donor))
            clip = render_fake(job.method, real, lms, ctx)
        write_video(out / job.path, clip, fps, crf)
        info_videos[job.path] = {
            "label": 0 if job.method is None else 1,
            "method": job.method or "real",
            "original": None if job.method is None else real_path[job.target],
            "donor": None if job.donor is None else real_path[job.donor],
            "source": specs[job.target].source.name,
            # what was handed to the encoder: equal for equal arguments and seed (the H.264 bytes need not be)
            "frames_sha1": hashlib.sha1(np.stack(clip).tobytes()).hexdigest(),
        }

    if layout == "dfdc":
        for folder, meta in extra["metadata"].items():
            (out / folder / "metadata.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        with open(out / "test" / "labels.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["filename", "label"])
            writer.writerows(sorted(extra["labels"]))
    else:
        (out / "splits").mkdir(exist_ok=True)
        for name, pairs in extra["splits"].items():
            (out / "splits" / f"{name}.json").write_text(json.dumps(pairs) + "\n")

    info = {
        "generator": "preprocessing.sample",
        "note": "synthetic pipeline check, not a benchmark of real-world accuracy",
        "layout": layout,
        "seed": seed,
        "frames": frames,
        "size": size,
        "fps": fps,
        "compression": compression,
        "codec": codec,
        "videos": info_videos,
        "faces": faces,
    }
    (out / INFO_FILE).write_text(json.dumps(info, sort_keys=True) + "\n")
    log.info("sample %s dataset written: %s (%d videos)", layout, out, len(jobs))
    return out
