"""The Gradio demo: callbacks, the app served on localhost and driven through gradio_client, and one
real-browser run (headless Chromium through Playwright) that uploads a video and waits for the verdict."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ssat_helpers import blank_frames, face_frames, trained_checkpoint, write_video

from app import views
from app.demo import CSS, DemoApp, DemoSettings, build_demo
from deepfake_ssat.inference import Predictor

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    return Predictor.from_checkpoint(trained_checkpoint(tmp_path_factory.getbasetemp() / "ssat_ckpt"), device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("app_media")
    (d / "notes.txt").write_text("this is not a video\n" * 50)
    return {
        "one": write_video(d / "one.mp4", face_frames(24, faces=1)),
        "two": write_video(d / "two.mp4", face_frames(48, faces=2)),
        "blank": write_video(d / "blank.mp4", blank_frames(24)),
        "text": d / "notes.txt",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(predictor):
    """The demo on localhost (in this process, so the test can look at its temporary folders)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo(predictor, DemoSettings(max_seconds=30, examples=[]))
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def _ssat_temp_dirs() -> list[str]:
    return [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("ssat-demo-")]


def test_served_app_through_gradio_client(served, media):
    from gradio_client import Client, handle_file

    before = _ssat_temp_dirs()
    client = Client(served, verbose=False)
    verdict, timeline, gallery, summary, details = client.predict(handle_file(str(media["one"])), api_name="/analyse")
    assert "% fake" in verdict and details["verdict"] in ("real", "fake")
    assert details["video"] == "one.mp4" and details["counts"]["tracks"] == 1
    n_seg = details["counts"]["segments"]
    plot = timeline.get("value") or timeline  # sent as an update (value + colours + x range)
    faces = [row for row in plot["data"] if row[2] == "face 0"]
    assert len(faces) == n_seg >= 1 and all(0.0 <= row[1] <= 1.0 for row in faces)
    assert [row[0] for row in faces] == sorted(row[0] for row in faces)  # x = seconds, in order
    gallery = gallery["value"] if isinstance(gallery, dict) else gallery  # sent as an update (value + height)
    assert gallery and gallery[0]["caption"].startswith("face 0")
    assert "Processing time" in summary and "segments scored" in summary
    assert _ssat_temp_dirs() == before  # the upload's working folder is gone

    # The reconstruction view of the clip this session just scored (state kept per session).
    image, text = client.predict(api_name="/reconstruct")
    assert image and "hidden" in text

    verdict, timeline, gallery, summary, details = client.predict(handle_file(str(media["blank"])),
                                                                  api_name="/analyse")
    assert "Inconclusive" in verdict and "no face found" in verdict and "% fake" not in verdict
    assert details["score"] is None and not (gallery["value"] if isinstance(gallery, dict) else gallery)

    verdict, *_ = client.predict(handle_file(str(media["text"])), api_name="/analyse")
    assert "not a video" in verdict and "Traceback" not in verdict


def test_limits_and_messages(predictor, media, tmp_path):
    app = DemoApp(predictor, DemoSettings(max_seconds=0.5))
    verdict, *_ = app.analyse(str(media["one"]))
    assert "1.0 s long" in verdict and "accepts up to 0.5 s" in verdict  # a 0.96 s video
    app = DemoApp(predictor, DemoSettings(max_mb=0.001))
    verdict, *_ = app.analyse(str(media["one"]))
    assert "MB" in verdict and "accepts up to" in verdict
    verdict, *_ = DemoApp(predictor, DemoSettings()).analyse(None)
    assert "Upload a video" in verdict and "Nothing to analyse yet" in verdict and "Cannot analyse" not in verdict
    # a cut-off MP4: said to be damaged, in one sentence without nested brackets
    whole = media["one"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 3])
    verdict, *_ = DemoApp(predictor, DemoSettings()).analyse(str(cut))
    assert "damaged or incomplete MP4/MOV file" in verdict and "((" not in verdict and "))" not in verdict
    assert DemoApp(predictor, DemoSettings()).reconstruct(None)[1].startswith("Analyse a video")


def test_without_a_checkpoint_it_says_so_and_scores_nothing(media):
    app = DemoApp(None, DemoSettings())
    verdict, timeline, gallery, summary, details, state = app.analyse(str(media["one"]))
    assert "No trained checkpoint" in verdict and "% fake" not in verdict
    assert timeline is None and gallery == [] and details is None and state is None
    assert "No trained model loaded" in views.model_card_markdown(None)
    build_demo(None)  # builds without a model


def test_model_card_names_the_checkpoint_and_dataset(predictor):
    card = views.model_card_markdown(predictor.describe())
    assert "best.pt" in card and "dfdc" in card and f"{predictor.threshold:.3f}" in card
    # the test model is trained on the sample generator's data, and the card says so
    assert "**Detector card** — dfdc SAMPLE DATA made by preprocessing.sample" in card and "identities" in card
    assert "a video ViT of width 32, 2 blocks, 2 heads" in card and "**Measured when trained** — validation on" in card


def test_reconstruction_mosaic_layout(predictor, media):
    pred = predictor.predict(media["one"])
    rec = predictor.reconstruction(pred)
    img = views.reconstruction_mosaic(rec, predictor.model.spec.tubelet, side=64)
    t = min(8, predictor.num_frames)
    assert img.dtype == np.uint8 and img.shape[0] == 4 * (64 + 4) + 4 and img.shape[1] == 130 + t * (64 + 4)


@pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_browser_upload_shows_the_verdict(served, media, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    shot = Path(os.environ.get("SSAT_SCREENSHOT_DIR", tmp_path)) / "demo_verdict.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served)
            page.locator("#video-input input[type=file]").set_input_files(str(media["two"]))
            page.locator("#analyse-button").click()
            verdict = page.locator("#verdict")
            verdict.get_by_text("% fake").wait_for(timeout=60_000)
            page.locator("#faces img").first.wait_for(timeout=10_000)
            assert page.get_by_text("Video not playable").count() == 0  # the upload plays in the page
            page.wait_for_timeout(1000)  # let the plot finish drawing
            # the crop grid shows every row and caption without an inner scroll bar or a blank band below
            grid = page.evaluate("() => { const w = document.querySelector('#faces .grid-wrap'); "
                                 "const c = w.querySelector('.grid-container'); "
                                 "return [w.scrollHeight, w.clientHeight, c.getBoundingClientRect().height]; }")
            assert grid[0] <= grid[1] + 2 and grid[1] < grid[2] + 60, grid
            text = verdict.inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert "REAL" in text or "FAKE" in text
    assert shot.stat().st_size > 10_000


def test_demo_and_predict_commands_are_registered():
    from app.cli import build_parser, cmd_demo
    from deepfake_ssat.cli import cmd_predict

    args = build_parser().parse_args(["demo"])
    assert args.func is cmd_demo and args.checkpoint is None and args.port == 7860 and not args.share
    args = build_parser().parse_args(["predict", "a.mp4", "b/", "--checkpoint", "c.pt"])
    assert args.func is cmd_predict and args.videos == ["a.mp4", "b/"] and args.json is None


def test_launch_names_our_share_flag_not_gradios(capsys):
    from app.demo import launch

    port = _free_port()
    demo = launch(None, DemoSettings(examples=[]), port=port, block=False)
    try:
        out = capsys.readouterr()
        text = out.out + out.err
        assert f"demo running at http://127.0.0.1:{port}" in text and "(add --share for a public link)" in text
        assert "share=True" not in text
    finally:
        demo.close()
