"""Folder-scale scoring: many videos, one result each, written as it comes (``predict … --out``).

The faces of a video (decode, detect, track, crop) take most of its time on a CPU. With ``workers`` > 0
they are found in that many worker processes (``preprocessing.pool``: a hung or crashed decoder costs
one video, recorded with its reason), while this process scores the faces that are ready with the
model. Under torchrun each rank scores every world_size-th video into its own part of the results file
(``output.ShardedResults``), on its own GPU where there are GPUs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .output import ShardedResults
from .predictor import Predictor, video_faces
from .results import Prediction, Progress

if TYPE_CHECKING:
    from preprocessing import VideoFaces
    from preprocessing.config import ClipConfig, FaceCropConfig

log = logging.getLogger(__name__)

Result = Prediction | tuple[str, str]  # a scored video, or (path, why it could not be scored)


def failure(path: str | Path, e: BaseException) -> tuple[str, str]:
    """The one-line reason a video could not be scored."""
    from preprocessing.video import VideoDecodeError

    if isinstance(e, VideoDecodeError):
        return str(path), f"cannot read video: {e}"
    log.debug("predict failed on %s", path, exc_info=True)
    first = (str(e).strip().splitlines() or [""])[0]  # one line in the results file and the summary
    return str(path), f"{type(e).__name__}: {first}" if first else type(e).__name__


def face_job(path: Path, faces: FaceCropConfig, clip: ClipConfig) -> VideoFaces | tuple[str, str]:
    """A worker's job: the face tracks of one video, or why it has none (never an exception)."""
    from preprocessing.detection import FaceDetector

    try:
        return video_faces(path, faces, clip, detector=FaceDetector(faces.detector))  # one MTCNN per process
    except Exception as e:
        return failure(path, e)


@contextlib.contextmanager
def progress_bar(desc: str, disable: bool = False) -> Iterator[Progress]:
    """A per-video bar on stderr (stage, percent, elapsed and ETA) fed by ``Predictor.predict``'s callback."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, file=sys.stderr, disable=disable, leave=False, dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    shown = [""]

    def progress(fraction: float, stage: str) -> None:
        bar.update(max(0, round(100 * fraction) - bar.n))
        if stage != shown[0]:  # a new stage is drawn at once; progress within one at tqdm's pace
            shown[0] = stage
            bar.set_description_str(f"{desc} · {stage}", refresh=True)

    try:
        yield progress
    finally:
        bar.close()


def score_videos(predictor: Predictor, videos: Sequence[Path], out: ShardedResults | None = None,
                 workers: int = 0, timeout: float | None = None, quiet: bool = False) -> list[Result]:
    """Score ``videos`` in order of completion, writing each to ``out`` as soon as it is scored.

    ``workers`` = 0 finds the faces in this process (a progress bar per video); N > 0 in N worker
    processes (one bar over all videos). ``timeout``: seconds a worker may spend on one video's faces.
    """
    results: list[Result] = []

    def done(result: Result) -> None:
        results.append(result)
        if out is not None:
            out.write(result)

    if workers == 0:
        for n, path in enumerate(videos, 1):
            try:
                with progress_bar(f"[{n}/{len(videos)}] {path.name}", disable=quiet) as progress:
                    result: Result = predictor.predict(path, progress=progress)
            except Exception as e:  # one bad file must not stop the others
                result = failure(path, e)
            done(result)
        return results

    from tqdm import tqdm

    from preprocessing.pool import Pool

    bar = tqdm(total=len(videos), desc="predict", unit="video", file=sys.stderr, disable=quiet,
               dynamic_ncols=True)

    def on_faces(path: Path, faces: VideoFaces | tuple[str, str]) -> None:
        if isinstance(faces, tuple):
            result: Result = faces
        else:
            try:
                result = predictor.score(path, faces)
            except Exception as e:
                result = failure(path, e)
        done(result)
        bar.update(1)
        bar.set_postfix_str(f"last: {path.name} {getattr(result, 'verdict', 'error')}", refresh=False)

    def on_failure(path: Path, why: str) -> None:
        on_faces(path, (str(path), f"face search {why}" if why == "timeout" else why))

    n = min(workers, len(videos))
    threads = max(1, (os.cpu_count() or 1) // (n + 1))  # this process runs the model beside them
    try:
        if videos:
            Pool(n, face_job, (predictor.faces, predictor.clip), threads, name=lambda p: Path(p).name).run(
                [[v] for v in videos], float("inf") if timeout is None else timeout, on_faces, on_failure)
    finally:
        bar.close()
    return results
