"""Upload to verdict in the web demo, measured in a real browser (headless Chromium through Playwright).

The video is the speed benchmark's 10-second 720p one-face clip (``portrait_landscape_720p.mp4`` of
../shared/data played forward and back to 300 frames); the checkpoint an untrained ``videomae_small``
(speed does not depend on the weights). Two demos run side by side, fp32 and ``--int8``, and the runs
alternate between them so machine noise hits both alike. Each run: file chosen → Analyse → the verdict
shown, every segment scored.

    python benchmarks/demo_latency.py [--runs 3] [--model videomae_small]

Needs the ``dev`` extra (Playwright) and Chromium (Debian: ``apt install chromium``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from speed import DATA, ten_second_720p, untrained_checkpoint

from app.demo import CSS, DemoSettings, build_demo
from deepfake_ssat.inference import PredictOptions, Predictor
from deepfake_ssat.tables import markdown_table

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(ckpt: Path, int8: bool):
    settings = DemoSettings(int8=int8, examples=[])  # the demo's defaults (every segment of this clip)
    predictor = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(
        max_segments_per_track=settings.max_segments_per_track, int8=int8))
    demo = build_demo(predictor, settings)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    return demo, f"http://127.0.0.1:{port}/"


def _one_run(browser, url: str, video: Path) -> tuple[float, str]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.locator("#analyse-button").wait_for()
        start = time.perf_counter()
        page.locator("#video-input input[type=file]").set_input_files(str(video))
        page.locator("#analyse-button").click()
        page.locator("#verdict").get_by_text("% fake").wait_for(timeout=600_000)
        return time.perf_counter() - start, page.locator("#summary").inner_text()
    finally:
        page.close()


def _gist(summary: str) -> str:
    """The segment count and stage timings of the demo's summary text."""
    text = " ".join(summary.split())
    segments = re.search(r"\d+ segments scored( \(of \d+\))?", text)
    timing = re.search(r"Processing time:.*?\)", text)
    return "; ".join(m.group(0) for m in (segments, timing) if m)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per precision (alternating)")
    p.add_argument("--model", default="videomae_small", help="registered model of the untrained checkpoint")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if chromium is None:
        sys.stderr.write("error: chromium not found (Debian: apt install chromium)\n")
        return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    with tempfile.TemporaryDirectory() as tmp:
        video = ten_second_720p(Path(tmp) / "clip.mp4")
        if video is None:
            sys.stderr.write(f"error: no {DATA}/portrait_landscape_720p.mp4\n")
            return 2
        ckpt = untrained_checkpoint(Path(tmp) / "best.pt", args.model)
        servers = {name: _serve(ckpt, name == "int8") for name in ("fp32", "int8")}
        times: dict[str, list[float]] = {name: [] for name in servers}
        summaries: dict[str, str] = {}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    for _, url in servers.values():  # warm-up: the detector's first call, allocations
                        _one_run(browser, url, video)
                    for _ in range(args.runs):
                        for name, (_, url) in servers.items():
                            seconds, summaries[name] = _one_run(browser, url, video)
                            times[name].append(seconds)
                finally:
                    browser.close()
        finally:
            for demo, _ in servers.values():
                demo.close()
    rows = [(f"demo upload → verdict, 10-s 720p clip, {args.model} {name}", f"{min(t):.1f} s",
             "runs: " + ", ".join(f"{x:.1f}" for x in t) + "; the page's last summary: " + _gist(summaries[name]))
            for name, t in times.items()]
    host = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end"
    sys.stdout.write(markdown_table(("what", "best", f"notes ({host})"), rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
