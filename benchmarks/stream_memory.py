"""Peak memory and wall time against video length: `predict` and one `preprocess` worker on synthetic
1080p videos of 10 s, 60 s and 300 s (made here), each command in its own process.

The clip: scikit-image's astronaut portrait swaying over a blurred canvas, 1920×1080, 30 fps, H.264. A
10-s clip is encoded once; the longer videos repeat its packets (the sway returns to its start, so no
cut), which makes a 300-s video in seconds. Peak memory is the process's maximum resident set
(``ru_maxrss`` of a child). Prints a Markdown table.

    python benchmarks/stream_memory.py --checkpoint runs/th_loo/ssat/edtalk/s0/best.pt
    python benchmarks/stream_memory.py --checkpoint CKPT --lengths 10 60 --only predict
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from deepfake_ssat.tables import markdown_table

FPS, SIZE = 30, (1920, 1080)


def make_clip(path: Path, seconds: int = 10) -> Path:
    """The base clip: the portrait sways right and back once, ending where it began."""
    import av
    from skimage import data

    w, h = SIZE
    rng = np.random.default_rng(0)
    canvas = cv2.resize(cv2.GaussianBlur(rng.integers(40, 200, (270, 480, 3), dtype=np.uint8), (0, 0), 6), SIZE)
    face = cv2.resize(data.astronaut(), (420, 420), interpolation=cv2.INTER_AREA)
    n = seconds * FPS
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(FPS)}
        for t in range(n):
            sway = 1 - abs(2 * t / n - 1)  # 0 → 1 → 0
            x, y = int(300 + 900 * sway), int(300 + 120 * np.sin(np.pi * sway))
            frame = canvas.copy()
            frame[y:y + 420, x:x + 420] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def repeat(clip: Path, times: int, path: Path) -> Path:
    """``times`` copies of the clip's packets, one after another (no re-encoding)."""
    import av

    with av.open(str(clip)) as src:
        stream_in = src.streams.video[0]
        packets = [p for p in src.demux(stream_in) if p.size]
        frame = packets[0].duration or int(round(1 / (FPS * stream_in.time_base)))
        # in presentation time, the clip spans its first to its last frame plus one (B-frames reorder)
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + frame
        with av.open(str(path), "w") as dst:
            stream_out = dst.add_stream_from_template(stream_in)
            for k in range(times):
                for p in packets:
                    q = av.Packet(bytes(p))
                    q.pts, q.dts, q.duration = p.pts + k * span, p.dts + k * span, p.duration
                    q.is_keyframe, q.time_base, q.stream = p.is_keyframe, p.time_base, stream_out
                    dst.mux(q)
    return path


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of one command in its own process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a video checkpoint for the predict rows")
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 60, 300], help="seconds of video")
    parser.add_argument("--only", choices=["predict", "preprocess"], help="one command's rows")
    parser.add_argument("--workdir", help="where the videos go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.only != "preprocess" and not args.checkpoint:
        parser.error("the predict rows need --checkpoint (or --only preprocess)")
    cli = [sys.executable, "-m", "app.cli"]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="stream-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    clip = work / "clip10.mp4"
    if not clip.is_file():
        make_clip(clip)
    rows = []
    for seconds in args.lengths:
        video = work / f"v{seconds}" / "real" / f"v{seconds}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        if not video.is_file():
            repeat(clip, max(1, seconds // 10), video)
        commands = {
            "predict": [*cli, "predict", str(video), "--checkpoint", str(args.checkpoint or ""), "--quiet",
                        "--device", "cpu"],
            "preprocess (1 worker)": [*cli, "preprocess", "--dataset", "folder", "--root", str(video.parent.parent),
                                      "--out", str(work / f"faces{seconds}_{time.time_ns()}"), "--workers", "1"],
        }
        for name, argv in commands.items():
            if args.only and not name.startswith(args.only):
                continue
            wall, peak, rc = measure(argv)
            rows.append((name, f"{seconds} s", f"{seconds * FPS:,}", f"{peak:,.0f}", f"{wall:.1f}",
                         f"{wall / seconds:.2f}", "ok" if rc == 0 else f"exit {rc}"))
            print(f"{name}, {seconds} s: {peak:,.0f} MiB, {wall:.1f} s", file=sys.stderr, flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average at the end {os.getloadavg()[0]:.2f}\n")
    print(markdown_table(("command", "video", "frames (1080p)", "peak RSS (MiB)", "wall (s)", "s per video s",
                          "result"), rows))


if __name__ == "__main__":
    main()
