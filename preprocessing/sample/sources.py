"""Source footage of the sample generator: the scikit-image portrait by default, or a folder of the
user's own face images and videos (faces located with facenet-pytorch MTCNN)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..entries import VIDEO_EXTENSIONS
from .geometry import box_centre, face_axes

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# Face of skimage.data.astronaut() (512x512 RGB), measured with facenet-pytorch MTCNN
# (probability 0.99999): box (181.1, 62.2, 267.7, 172.1); landmarks in MTCNN order:
# left eye, right eye, nose, left mouth corner, right mouth corner (image x, y).
ASTRONAUT_LANDMARKS = np.array(
    [[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]], np.float32
)
# Source frames are pre-shrunk so that d is at most this many pixels (keeps warps cheap and avoids
# aliasing when the camera zooms out).
_MAX_SOURCE_D = 64.0


@dataclass
class Source:
    """One source item: RGB uint8 frames (an image is one frame) and 5 landmarks per frame."""

    name: str
    frames: list[np.ndarray]
    landmarks: np.ndarray  # (T, 5, 2) float32, image coordinates

    def index(self, t: int) -> int:
        n = len(self.frames)
        if n == 1:
            return 0
        period = 2 * (n - 1)  # ping-pong through a short source video
        k = t % period
        return k if k < n else period - k

    @property
    def eye_mouth(self) -> float:
        return float(np.median([face_axes(lm)[2] for lm in self.landmarks]))

    @property
    def face_centre(self) -> np.ndarray:
        return np.median([box_centre(lm) for lm in self.landmarks], axis=0).astype(np.float32)


def mirror_frame(img: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip of an image and its landmarks (left/right points swapped)."""
    w = img.shape[1]
    out = lm.copy()
    out[:, 0] = w - 1 - out[:, 0]
    return np.ascontiguousarray(img[:, ::-1]), out[[1, 0, 2, 4, 3]]


def default_source() -> Source:
    try:
        from skimage import data
    except ImportError as exc:  # scikit-image is a dev extra
        raise ImportError(
            "the default sample source needs scikit-image (pip install scikit-image), "
            "or pass source=DIR with your own face images/videos"
        ) from exc
    img = np.ascontiguousarray(data.astronaut()[..., :3])
    return Source("astronaut", [img], ASTRONAUT_LANDMARKS[None].copy())


def _read_video_frames(path: Path, limit: int) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= limit:
                break
    return frames


def _detect_landmarks(frames: list[np.ndarray], detector) -> np.ndarray | None:
    """Largest confident face per frame; frames without one take the nearest frame's landmarks."""
    h, w = frames[0].shape[:2]
    scale = min(1.0, 720.0 / max(h, w))
    small = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else f
             for f in frames]
    found: list[np.ndarray | None] = []
    for start in range(0, len(small), 8):
        boxes, probs, lms = detector.detect(small[start:start + 8], landmarks=True)
        for b, p, lm in zip(boxes, probs, lms, strict=True):
            if b is None:
                found.append(None)
                continue
            ok = [i for i in range(len(b)) if p[i] is not None and p[i] >= 0.9]
            if not ok:
                found.append(None)
                continue
            best = max(ok, key=lambda i: (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]))
            found.append(np.asarray(lm[best], np.float32) / scale)
    have = [i for i, x in enumerate(found) if x is not None]
    if not have:
        return None
    out = np.stack([found[min(have, key=lambda j: abs(j - i))] for i in range(len(found))])
    if len(out) >= 3:  # light temporal smoothing against detector jitter
        pad = np.concatenate([out[:1], out, out[-1:]])
        out = (pad[:-2] + pad[1:-1] + pad[2:]) / 3.0
    return out.astype(np.float32)


def load_sources(source: Path, frames: int) -> list[Source]:
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"sample source folder not found: {source}")
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS + VIDEO_EXTENSIONS)
    if not files:
        exts = " ".join(IMAGE_EXTS + VIDEO_EXTENSIONS)
        raise ValueError(f"sample source folder {source} contains no images or videos ({exts})")
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, device="cpu")
    sources = []
    for path in files:
        try:
            if path.suffix.lower() in IMAGE_EXTS:
                img = cv2.imread(str(path), cv2.IMREAD_COLOR)
                items = [] if img is None else [cv2.cvtColor(img, cv2.COLOR_BGR2RGB)]
            else:
                items = _read_video_frames(path, frames)
        except Exception as exc:  # any decode failure just skips the file
            log.warning("skipping unreadable source %s: %s", path, exc)
            continue
        if not items:
            log.warning("skipping unreadable source %s", path)
            continue
        h, w = items[0].shape[:2]
        if max(h, w) > 1280:
            f = 1280.0 / max(h, w)
            items = [cv2.resize(x, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) for x in items]
        lms = _detect_landmarks(items, detector)
        if lms is None:
            log.warning("skipping source %s: no face found", path)
            continue
        src = Source(str(path.relative_to(source)), items, lms)
        shrink = min(1.0, _MAX_SOURCE_D / max(src.eye_mouth, 1e-3))
        if shrink < 1.0:
            src.frames = [cv2.resize(x, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
                          for x in src.frames]
            src.landmarks = src.landmarks * shrink
        sources.append(src)
    if not sources:
        raise ValueError(f"no face found in any image or video of sample source folder {source}")
    log.info("sample source: %d of %d files in %s have a face", len(sources), len(files), source)
    return sources
