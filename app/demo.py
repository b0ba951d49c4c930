"""The Gradio demo: upload a video (or pick an example) → verdict, timeline per face, face crops.

A thin layer over ``deepfake_ssat.inference.Predictor``; started by ``deepfake-ssat demo --checkpoint …``.
Every upload is copied into its own temporary folder, scored there and the folder removed; Gradio's
own upload cache is cleared by ``delete_cache``. One queue with a concurrency limit serves all
users, so a long video makes others wait in line instead of starving them of CPU.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from deepfake_ssat.inference import Prediction, PredictOptions, Predictor

from . import views

log = logging.getLogger(__name__)

# Real footage that lives beside the project (see ../shared/data/README.md), used as examples when present.
_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class DemoSettings:
    max_mb: float = 200.0  # largest upload accepted
    # Longest video accepted. A limit on waiting, not memory: the face pass streams (predict: 1.5 GB peak for 60 s
    # of 1080p, 1.6 GB for 300 s; README), but 60 s of 1080p take minutes on a small CPU while the queue waits.
    max_seconds: float = 60.0
    concurrency: int = 1  # videos analysed at the same time; the others wait in the queue
    queue_size: int = 16  # users waiting at most; more get "queue full"
    device: str = "auto"
    max_segments_per_track: int | None = 32
    int8: bool = False  # int8 dynamic quantisation of the classifier (CPU)
    precision: str = "auto"  # auto: bf16 where the GPU or CPU has it natively, else fp32
    examples: list[str] = field(default_factory=list)  # empty: the portrait videos of ../shared/data if present

    def validate(self) -> None:
        if self.max_mb <= 0 or self.max_seconds <= 0:
            raise ValueError("max_mb and max_seconds must be positive")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")


_EMPTY = (None, [], "", None)  # timeline, gallery, summary, details
GALLERY_COLUMNS = 8


class DemoApp:
    """The callbacks, separate from the layout so tests can call them directly."""

    def __init__(self, predictor: Predictor | None, settings: DemoSettings):
        self.predictor = predictor
        self.settings = settings

    def check_limits(self, path: Path) -> str | None:
        """A message when the file is over a limit or not a readable video; None when fine."""
        from preprocessing.video import VideoDecodeError, VideoReader, check_video_file

        mb = path.stat().st_size / 2**20
        if mb > self.settings.max_mb:
            return f"The file is {mb:.1f} MB; this demo accepts up to {self.settings.max_mb:g} MB."
        try:
            check_video_file(path)
            info = VideoReader(path).info
        except VideoDecodeError as e:
            return f"This file cannot be read as a video: {e}."
        seconds = info.num_frames / info.fps if info.fps else 0.0
        if seconds > self.settings.max_seconds:
            return (f"The video is {seconds:.1f} s long; this demo accepts up to {self.settings.max_seconds:g} s. "
                    "Cut a shorter part, or use `deepfake-ssat predict` for long videos.")
        return None

    def analyse(self, video: str | None, progress: gr.Progress | None = None) -> tuple:
        """→ (verdict html, timeline, gallery, summary markdown, details json, prediction state)."""
        if self.predictor is None:
            return (views.message_html("No trained checkpoint is loaded, so nothing is scored. Restart the demo with "
                                       "--checkpoint PATH.", "none"), *_EMPTY, None)
        if not video:
            return (views.message_html("Upload a video file (MP4, MOV, WebM, AVI, …) or pick an example, then press "
                                       "Analyse. An image or a file the browser could not send arrives as nothing.",
                                       "empty"), *_EMPTY, None)
        src = Path(video)
        with tempfile.TemporaryDirectory(prefix="ssat-demo-") as tmp:
            path = Path(tmp) / ("upload" + src.suffix.lower())
            shutil.copyfile(src, path)
            problem = self.check_limits(path)
            if problem:
                return (views.message_html(problem), *_EMPTY, None)
            try:
                pred = self.predictor.predict(path, progress=_adapt(progress))
            except Exception as e:  # the user sees a sentence, the log keeps the traceback
                log.exception("analysis failed for %s", src.name)
                from preprocessing.video import VideoDecodeError

                if isinstance(e, VideoDecodeError):
                    return (views.message_html(f"This file cannot be read as a video: {e}."), *_EMPTY, None)
                return (views.message_html(f"Analysis failed: {type(e).__name__}: {e}"), *_EMPTY, None)
        pred.path = src.name
        details = pred.to_dict()
        details["video"] = details.pop("path")  # a "path" key would make Gradio clients fetch it as a file
        items = views.gallery_items(pred)
        timeline = (gr.LinePlot(value=views.timeline_frame(pred), color_map=views.series_colours(pred),
                                x_lim=[0, round(pred.duration_s, 3)]) if pred.segments else None)
        # height "auto": the grid grows with its rows at any page width (a fixed height hid the last row's
        # captions behind an inner scroll at some widths, and left a blank band at others)
        return (views.verdict_html(pred), timeline, gr.Gallery(value=items, height="auto"),
                views.summary_markdown(pred), details, pred)

    def reconstruct(self, pred: Prediction | None) -> tuple[Any, str]:
        if self.predictor is None or not self.predictor.has_decoder:
            return None, "This checkpoint has no decoder (it was not trained with SSAT), so there is nothing to show."
        if pred is None or pred.clip is None:
            return None, "Analyse a video with a face first."
        rec = self.predictor.reconstruction(pred)
        tubelet = self.predictor.model.spec.tubelet
        text = (f"One scored clip of face {pred.fake_track}, {100 * rec.mask_ratio:.0f}% of its tubes hidden (the "
                f"same mask over time, as in training), and what the decoder predicts for them. The decoder predicts "
                "each tube's pattern normalised per channel (the training target); it is drawn with the true tube's "
                "own mean and spread, so colour and brightness come from the video and the structure from the "
                f"model. Error map: dark = lowest, bright = highest. Mean error on the hidden tubes "
                f"{rec.mean_error:.3f} (1.0 ≈ no better than the tube's mean colour).")
        return views.reconstruction_mosaic(rec, tubelet), text


def _adapt(progress: gr.Progress | None):
    if progress is None:
        return None

    def call(frac: float, desc: str) -> None:
        progress(frac, desc=desc)

    return call


def _examples(settings: DemoSettings) -> list[str]:
    if settings.examples:
        return [str(p) for p in settings.examples if Path(p).is_file()]
    if _SHARED_DATA.is_dir():
        return [str(p) for p in sorted(_SHARED_DATA.glob("portrait_*.mp4"))]
    return []


CSS = """
.ssat-verdict {min-height: 90px}
footer {display: none !important}
/* the crop grid as tall as its rows: Gradio's fixed height clipped captions or left a blank band */
#faces .grid-wrap {height: auto !important; min-height: 0 !important; max-height: none !important}
"""


def build_demo(predictor: Predictor | None, settings: DemoSettings | None = None) -> gr.Blocks:
    settings = settings or DemoSettings()
    settings.validate()
    app = DemoApp(predictor, settings)
    info = predictor.describe() if predictor is not None else None
    frames = predictor.num_frames if predictor is not None else 16
    with gr.Blocks(title="deepfake-ssat demo", delete_cache=(600, 1800), analytics_enabled=False) as demo:
        gr.Markdown("# Is this face real?\nA VideoMAE ViT trained jointly on real/fake classification and masked "
                    "reconstruction (SSAT). Upload a short video with a face: faces are found and tracked as in "
                    f"training, and every {frames}-frame segment of every face is scored.")
        gr.Markdown(views.model_card_markdown(info), elem_id="model-card")
        with gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                button = gr.Button("Analyse", variant="primary", interactive=predictor is not None,
                                   elem_id="analyse-button")
                gr.Markdown(f"Limits: {settings.max_mb:g} MB, {settings.max_seconds:g} s. Uploads are deleted "
                            "after analysis.")
                examples = _examples(settings)
                if examples:
                    gr.Examples(examples=examples, inputs=video, label="Examples (real footage)")
            with gr.Column(scale=3):
                verdict = gr.HTML(views.message_html("Upload a video and press Analyse.", "Waiting for a video")
                                  if predictor is not None else views.message_html(
                                      "Start the demo with --checkpoint to score videos.", "none"),
                                  elem_id="verdict")
                timeline = gr.LinePlot(x="time (s)", y="fake probability", color="series", y_lim=[0, 1],
                                       label=f"Timeline: fake probability of each {frames}-frame segment, per face "
                                             "(the deciding face in red)",
                                       elem_id="timeline",  # default height: a fixed one clips the legend
                                       color_map=views.SERIES_COLOURS)
                summary = gr.Markdown(elem_id="summary")
        gallery = gr.Gallery(label="Face crops that were scored (per face track)", columns=GALLERY_COLUMNS,
                             height="auto",
                             object_fit="contain", elem_id="faces")
        state = gr.State(None)
        with gr.Accordion("What the model reconstructs", open=False, visible=bool(info and info["reconstruction"])):
            rec_button = gr.Button("Mask a clip and reconstruct it")
            rec_text = gr.Markdown()
            rec_image = gr.Image(label="original · masked · reconstruction · error per tube", type="numpy",
                                 interactive=False)
        with gr.Accordion("Details (JSON)", open=False):
            details = gr.JSON()

        def analyse(v, progress=gr.Progress()):  # noqa: B008 (Gradio injects the tracker here)
            return app.analyse(v, progress)

        # one progress bar, over the verdict box (not one copy over every output)
        button.click(analyse, inputs=video, outputs=[verdict, timeline, gallery, summary, details, state],
                     api_name="analyse", concurrency_limit=settings.concurrency, concurrency_id="analysis",
                     show_progress_on=[verdict])
        rec_button.click(app.reconstruct, inputs=state, outputs=[rec_image, rec_text], api_name="reconstruct",
                         concurrency_limit=settings.concurrency, concurrency_id="analysis")
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def launch(checkpoint: str | None, settings: DemoSettings | None = None, host: str = "127.0.0.1", port: int = 7860,
           share: bool = False, block: bool = True) -> gr.Blocks:
    """Load the checkpoint (if any), build the app and serve it."""
    settings = settings or DemoSettings()
    predictor = None
    if checkpoint:
        predictor = Predictor.from_checkpoint(
            checkpoint, device=settings.device,
            options=PredictOptions(max_segments_per_track=settings.max_segments_per_track, int8=settings.int8,
                                   precision=settings.precision))
    else:
        log.warning("no checkpoint given: the demo will say so and score nothing")
    demo = build_demo(predictor, settings)
    # quiet: Gradio's own lines suggest `share=True` in code; ours names the command's flag instead
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                max_file_size=f"{int(settings.max_mb)}mb", css=CSS, quiet=True)
    urls = [demo.local_url] + ([demo.share_url] if share and demo.share_url else [])
    sys.stderr.write(f"demo running at {' and '.join(urls)}"
                     + ("" if share else " (add --share for a public link)") + "; Ctrl+C stops it\n")
    if block:
        demo.block_thread()
    return demo
