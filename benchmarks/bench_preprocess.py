"""Face preprocessing benchmarks; prints Markdown tables.

Default: on every video of ../shared/data (or --videos), our pipeline (downscaled detection every
k-th frame + tracking/interpolation) against the baseline that detects on every frame at full
resolution with the same tracker: faces/s, videos/s, speed-up and the share of the baseline's
tracks that ours still finds (tracks matched by mean IoU over the baseline track's frames).

--clip-formats: storage candidates for face-track clips on real crops: bytes per frame, time to
read 16 consecutive frames at a random position, and PSNR against the uncompressed crops.

    python benchmarks/bench_preprocess.py [--videos a.mp4 b.mp4] [--threads 2]
    python benchmarks/bench_preprocess.py --clip-formats
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from deepfake_ssat.tables import markdown_table
from preprocessing.clips import decode_jpeg, encode_jpeg, read_clip, write_clip
from preprocessing.config import FaceCropConfig
from preprocessing.faces import FaceTrack, extract_tracks
from preprocessing.tracking import iou

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, {gpu}"


# --------------------------------------------------------------------------- pipeline vs baseline


def match_share(baseline: list[FaceTrack], ours: list[FaceTrack], min_iou: float = 0.5) -> tuple[int, int, list[str]]:
    """How many baseline tracks have one of our tracks overlapping them: mean box IoU over the
    baseline track's frames (frames our track misses count as 0) of at least ``min_iou``.
    Also returns the missed ones as "frames a-b, N px, best overlap"."""
    found = 0
    missed = []
    for b in baseline:
        best = 0.0
        for o in ours:
            common, ib, io = np.intersect1d(b.frame_indices, o.frame_indices, return_indices=True)
            if not len(common):
                continue
            overlap = np.diag(iou(b.boxes[ib], o.boxes[io])).sum() / len(b.frame_indices)
            best = max(best, overlap)
        found += best >= min_iou
        if best < min_iou:
            fi = b.frame_indices
            missed.append(f"frames {fi[0]}-{fi[-1]}, {b.face_size:.0f} px, score {b.det_score:.2f}, overlap {best:.2f}")
    return found, len(baseline), missed


def run_pipeline(videos: list[Path], cfg: FaceCropConfig) -> tuple[dict, dict[Path, list[FaceTrack]]]:
    tracks: dict[Path, list[FaceTrack]] = {}
    cuts: dict[Path, int] = {}
    faces = 0
    stages = dict.fromkeys(("decode", "detect", "track", "crop"), 0.0)
    t = time.perf_counter()
    for v in videos:
        vf = extract_tracks(v, cfg)
        tracks[v] = vf.tracks
        cuts[v] = len(vf.cuts)
        faces += sum(len(tr.frame_indices) for tr in vf.tracks)
        for k in stages:
            stages[k] += vf.timings[k]
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "faces": faces, "videos": len(videos), "cuts": cuts, **stages}, tracks


def bench_pipeline(videos: list[Path]) -> None:
    ours_cfg = FaceCropConfig()
    base_cfg = FaceCropConfig(
        detector=dataclasses.replace(ours_cfg.detector, every=1, max_side=100_000),
        tracker=ours_cfg.tracker,
    )
    # Warm-up (model load, first-call allocations) outside the timings.
    extract_tracks(videos[0], dataclasses.replace(ours_cfg, max_frames=8))
    rows = []
    per_video = []
    results = {}
    for name, cfg in (("baseline: every frame, full resolution", base_cfg), ("ours", ours_cfg)):
        stats, tracks = run_pipeline(videos, cfg)
        results[name] = (stats, tracks)
    base_stats, base_tracks = results["baseline: every frame, full resolution"]
    for name, (stats, tracks) in results.items():
        found = total = 0
        for v in videos:
            f, n, missed = match_share(base_tracks[v], tracks[v])
            found, total = found + f, total + n
            if name == "ours":
                per_video.append((v.name, stats["cuts"][v], len(base_tracks[v]), len(tracks[v]), f,
                                  "; ".join(missed) or "-"))
        rows.append((name, f"{stats['faces'] / stats['seconds']:.1f}", f"{stats['videos'] / stats['seconds']:.3f}",
                     f"{base_stats['seconds'] / stats['seconds']:.2f}x",
                     f"{found}/{total} ({100 * found / max(total, 1):.0f}%)",
                     f"{stats['decode']:.1f} / {stats['detect']:.1f} / {stats['track']:.2f} / {stats['crop']:.1f}"))
    print(f"\nMachine: {machine()}; videos: {', '.join(v.name for v in videos)}\n")
    print(markdown_table(("pipeline", "faces/s", "videos/s", "speed-up", "baseline tracks found",
                          "decode / detect / track / crop s"), rows))
    print()
    print(markdown_table(("video", "shot cuts found", "baseline tracks", "our tracks", "baseline tracks found",
                          "missed"), per_video))


# --------------------------------------------------------------------------- clip formats


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _zip_codec(encode: Callable[[np.ndarray], bytes], decode: Callable[[bytes], np.ndarray]):
    def write(path: Path, frames: np.ndarray) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for i, f in enumerate(frames):
                zf.writestr(f"{i:06d}", encode(f))

    def read(path: Path, idx: list[int]) -> np.ndarray:
        with zipfile.ZipFile(path) as zf:
            return np.stack([decode(zf.read(f"{i:06d}")) for i in idx])

    return write, read


def _png_encode(f: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes()


def _npy_write(path: Path, frames: np.ndarray) -> None:
    np.save(path, frames)


def _npy_read(path: Path, idx: list[int]) -> np.ndarray:
    return np.asarray(np.load(path, mmap_mode="r")[idx])


def _mjpeg_write(path: Path, frames: np.ndarray) -> None:
    h, w = frames.shape[1:3]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    vw.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


def _mjpeg_read(path: Path, idx: list[int]) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, idx[0])
    out = []
    for _ in idx:
        ok, f = cap.read()
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(out)


def _h264(gop: int, crf: int, pix_fmt: str):
    import av

    def write(path: Path, frames: np.ndarray) -> None:
        with av.open(str(path), "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height = frames.shape[2], frames.shape[1]
            s.pix_fmt = pix_fmt
            s.options = {"crf": str(crf), "g": str(gop), "keyint_min": str(gop), "bf": "0", "preset": "medium"}
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)

    def read(path: Path, idx: list[int]) -> np.ndarray:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            # seek to the keyframe at or before the first wanted frame (25 fps, pts in time_base)
            c.seek(int(idx[0] / 25 / s.time_base), stream=s, backward=True, any_frame=False)
            out = []
            for frame in c.decode(s):
                i = round(float(frame.pts * s.time_base) * 25)
                if i > idx[-1]:
                    break
                if i >= idx[0]:
                    out.append(frame.to_ndarray(format="rgb24"))
            return np.stack(out)

    return write, read


def bench_clip_formats(crops: list[np.ndarray], reads: int = 60) -> None:
    formats: dict[str, tuple[str, Callable, Callable]] = {
        "JPEG q95 4:4:4 in zip (chosen)": (
            ".zip",
            lambda p, f: write_clip(p, f, 95, "444"),
            lambda p, i: read_clip(p, i),
        ),
        "JPEG q95 4:2:0 in zip": (".zip", *_zip_codec(lambda f: encode_jpeg(f, 95, "420"), decode_jpeg)),
        "JPEG q90 4:4:4 in zip": (".zip", *_zip_codec(lambda f: encode_jpeg(f, 90, "444"), decode_jpeg)),
        "PNG in zip (lossless)": (".zip", *_zip_codec(_png_encode, decode_jpeg)),
        "raw uint8 .npy (memmap)": (".npy", _npy_write, _npy_read),
        "MJPEG AVI (OpenCV, q95)": (".avi", _mjpeg_write, _mjpeg_read),
        "H.264 intra-only crf 18 4:2:0": (".mp4", *_h264(1, 18, "yuv420p")),
        "H.264 intra-only crf 12 4:4:4": (".mp4", *_h264(1, 12, "yuv444p")),
        "H.264 GOP 16 crf 18 4:2:0": (".mp4", *_h264(16, 18, "yuv420p")),
    }
    rng = np.random.default_rng(0)
    total = sum(len(c) for c in crops)
    print(f"\nMachine: {machine()}; {len(crops)} real face tracks, {total} crops of {crops[0].shape[1]}^2\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (ext, write, read) in formats.items():
            size = 0
            write_s = 0.0
            paths = []
            for k, frames in enumerate(crops):
                p = Path(tmp) / f"{len(paths)}_{k}{ext}"
                t = time.perf_counter()
                write(p, frames)
                write_s += time.perf_counter() - t
                size += p.stat().st_size
                paths.append(p)
            quality = []
            for p, frames in zip(paths, crops, strict=True):
                got = read(p, list(range(len(frames))))
                quality.append(psnr(got, frames))
            times = []
            for _ in range(reads):
                k = int(rng.integers(len(crops)))
                start = int(rng.integers(0, len(crops[k]) - 16 + 1))
                t = time.perf_counter()
                got = read(paths[k], list(range(start, start + 16)))
                times.append(time.perf_counter() - t)
                assert got.shape[0] == 16
            rows.append((name, f"{size / total / 1024:.1f}", f"{1000 * np.median(times):.1f}",
                         f"{np.mean(quality):.1f}", f"{1000 * write_s / total:.2f}"))
    print(markdown_table(("format", "KB/frame", "read 16 frames at random position, ms", "PSNR dB (vs raw)",
                          "write ms/frame"), rows))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="*", type=Path, help="videos (default: all of ../shared/data)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--clip-formats", action="store_true", help="compare storage formats for clips")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    videos = args.videos or sorted(DATA.glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no videos given and none found in {DATA}")
    if args.clip_formats:
        crops = []
        for v in videos:
            crops += [t.crops for t in extract_tracks(v, FaceCropConfig()).tracks if len(t.crops) >= 16]
        bench_clip_formats(crops)
    else:
        bench_pipeline(videos)


if __name__ == "__main__":
    main()
