"""Face-track clips on disk: one uncompressed zip per track holding one JPEG per frame.

Chosen by measurement (docs/preprocessing.md, `benchmarks/bench_preprocess.py --clip-formats`):
per-frame JPEG keeps every frame independently decodable, so reading 16 frames at a random
position decodes exactly 16 small images (no GOP to walk as with H.264/MJPEG-in-AVI seeking);
JPEG q95 4:4:4 keeps ~40 dB PSNR at a tenth of raw size; a stored (not deflated) zip makes the
track one file (no inode per frame) whose members are read by offset, and any zip tool opens it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .files import atomic_path

_SUBSAMPLING = {
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
}


# A clip may also hold the landmarks of its frames, in crop pixels: (T, 5, 2) float32 as .npy.
LANDMARKS_MEMBER = "landmarks.npy"


def _member(i: int) -> str:
    return f"{i:06d}.jpg"


def _frames(zf: zipfile.ZipFile) -> list[str]:
    return sorted(n for n in zf.namelist() if n.endswith(".jpg"))


def encode_jpeg(frame: np.ndarray, quality: int = 95, subsampling: str = "444") -> bytes:
    """RGB uint8 (H, W, 3) -> JPEG bytes."""
    ok, buf = cv2.imencode(
        ".jpg",
        cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SUBSAMPLING[subsampling]],
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError("corrupt JPEG in clip")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class JpegFrames:
    """Frames held as the clip store holds them: one JPEG per frame (``encode_jpeg``), decoded on indexing.

    A 224-px crop is ~15 KB here against 150 KB raw, so a long video's face crops fit in memory (the
    stream keeps crops this way, ``extract_tracks(..., clip=...)``). Indexing gives what a clip written
    with these settings gives back: ``frames[i]`` (H, W, 3), ``frames[idx]`` (k, H, W, 3) for an index
    array, list or slice; ``np.asarray(frames)`` decodes them all.
    """

    def __init__(self, encoded: Sequence[bytes], quality: int, subsampling: str, size: int) -> None:
        self.encoded, self.quality, self.subsampling = list(encoded), int(quality), subsampling
        self.shape = (len(self.encoded), size, size, 3)

    def stored_as(self, quality: int, subsampling: str) -> bool:
        """Whether these are the bytes a clip written with these settings holds."""
        return (self.quality, self.subsampling) == (int(quality), subsampling)

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.encoded))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return decode_jpeg(self.encoded[key])
        picks = range(len(self))[key] if isinstance(key, slice) else np.asarray(key, np.int64).reshape(-1)
        if not len(picks):
            return np.zeros((0, *self.shape[1:]), np.uint8)
        return np.stack([decode_jpeg(self.encoded[int(i)]) for i in picks])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def write_clip(path: str | Path, frames: np.ndarray | JpegFrames, quality: int = 95, subsampling: str = "444",
               landmarks: np.ndarray | None = None) -> int:
    """Write (T, H, W, 3) uint8 RGB frames (and their (T, 5, 2) landmarks in crop pixels) as a clip;
    atomic (temp file, then rename). Returns bytes."""
    path = Path(path)
    if landmarks is not None and len(landmarks) != len(frames):
        raise ValueError(f"{len(landmarks)} landmark sets for {len(frames)} frames")
    kept = isinstance(frames, JpegFrames) and frames.stored_as(quality, subsampling)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(len(frames)):  # frames kept with these settings go in as they are, not encoded twice
            zf.writestr(_member(i), frames.encoded[i] if kept else encode_jpeg(frames[i], quality, subsampling))
        if landmarks is not None:
            buf = io.BytesIO()
            np.save(buf, np.asarray(landmarks, np.float32))
            zf.writestr(LANDMARKS_MEMBER, buf.getvalue())
    return path.stat().st_size


def read_landmarks(path: str | Path, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray | None:
    """The clip's landmarks at ``indices`` (K, 5, 2) in crop pixels, or None when it holds none."""
    with zipfile.ZipFile(path) as zf:
        if LANDMARKS_MEMBER not in zf.namelist():
            return None
        lms = np.load(io.BytesIO(zf.read(LANDMARKS_MEMBER)))
    return lms if indices is None else lms[np.asarray(indices, np.int64)]


def as_stored(frames: np.ndarray | JpegFrames, quality: int = 95, subsampling: str = "444") -> np.ndarray | JpegFrames:
    """(T, H, W, 3) frames as a clip written with these settings gives them back (JPEG there and back),
    so single-video inference sees faces exactly as training read them from disk. Frames kept as JPEG
    with these settings already are that, and stay encoded (decoded when indexed)."""
    if isinstance(frames, JpegFrames) and frames.stored_as(quality, subsampling):
        return frames
    return np.stack([decode_jpeg(encode_jpeg(frames[i], quality, subsampling)) for i in range(len(frames))])


def clip_length(path: str | Path) -> int:
    """Number of frames in the clip."""
    with zipfile.ZipFile(path) as zf:
        return len(_frames(zf))


def read_clip(path: str | Path, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Frames ``indices`` (clip-frame positions, any order, repeats allowed; None = all) as (T, H, W, 3) RGB."""
    with zipfile.ZipFile(path) as zf:
        if indices is None:
            names = _frames(zf)
        else:
            n = len(_frames(zf))
            names = []
            for i in indices:
                i = int(i)
                if not -n <= i < n:
                    raise IndexError(f"frame {i} out of range for clip of {n} frames: {path}")
                names.append(_member(i % n))
        frames = [decode_jpeg(zf.read(name)) for name in names]
    if not frames:
        raise ValueError(f"empty clip: {path}")
    return np.stack(frames)
