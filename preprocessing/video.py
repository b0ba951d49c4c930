"""Video reading: PyAV decoding in one pass, decord when PyAV cannot open or decode a file.

Both backends yield RGB uint8 frames for a sorted list of frame indices, one at a time, so a long
high-resolution video never has to sit in memory whole. PyAV comes first because decord does not
stream: once a ``decord.VideoReader`` has returned a frame, its background thread keeps decoding
ahead and queues the frames however slowly they are taken (dmlc/decord #157, #208, #304). Measured
on a 60-s 1080p video: 1.0 → 7.4 GB in 20 s with the reader idle, and a face-detection pass that
peaked at 11 GB; with PyAV the same pass stays flat. The frames of the two backends are identical.
``write_video`` is the one writer (sample data, tests).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .entries import VIDEO_EXTENSIONS
from .files import atomic_path

log = logging.getLogger(__name__)

def _decord():
    """decord, or None where it has no wheel (PyAV covers those); imported on first use, not with the module."""
    try:
        import decord
    except ImportError:  # pragma: no cover - depends on the platform
        return None
    return decord

# The decord fallback reads one frame at a time with next(); a gap longer than this is sought (a keyframe
# seek plus decoding up to the frame) rather than decoded through.
_SEEK_GAP = 32
# Allocations from this size up go straight to the OS (mmap) and back to it when freed. glibc's threshold
# is adaptive: after big blocks are freed it rises to 32 MB, frames (6 MB at 1080p) then land on the heap
# between the detector's short-lived tensors, and the heap fragments as a video goes by. Measured on a
# 60-s 1080p face pass: peak 2.8 GB adaptive, 1.6 GB fixed at 1 MB (1 MB: 720p frames are 2.7 MB).
_MMAP_THRESHOLD = 1 << 20


@functools.cache
def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at ``_MMAP_THRESHOLD`` for this process (once); False where libc is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, _MMAP_THRESHOLD))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # musl, macOS, Windows: no mallopt
        return False



class VideoDecodeError(RuntimeError):
    """A video that cannot be opened or decoded; the message says why."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    num_frames: int
    width: int
    height: int
    backend: str


class VideoReader:
    """Reads chosen frames of one video; PyAV first, decord for a file PyAV cannot open or decode."""

    def __init__(self, path: str | Path, backend: str = "auto") -> None:
        if backend not in ("auto", "pyav", "decord"):
            raise ValueError(f"backend must be auto, pyav or decord, got {backend!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoDecodeError(f"file not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise VideoDecodeError("empty file")
        self.backend = backend
        self._decord = None  # opened only when PyAV fails: it decodes ahead from its first frame on
        errors = []
        if backend in ("auto", "pyav"):
            try:
                self.info = _probe_pyav(self.path)
                return
            except Exception as e:  # PyAV raises its own error types per FFmpeg error code
                errors.append(f"pyav: {_short(e)}")
        if backend == "pyav" or _decord() is None:
            raise VideoDecodeError("; ".join(errors) or "decord is not installed")
        try:
            self._open_decord()
        except Exception as e:  # decord raises its own DECORDError and RuntimeErrors
            errors.append(f"decord: {_short(e)}")
            raise VideoDecodeError("; ".join(errors)) from None
        if errors:
            log.debug("%s: PyAV failed (%s), reading with decord", self.path, errors[0])

    def _open_decord(self) -> None:
        decord = _decord()
        self._decord = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=0)
        n = len(self._decord)
        if n <= 0:
            raise VideoDecodeError("no frames")
        h, w = self._decord[0].shape[:2]
        self._decord.seek(0)
        fps = float(self._decord.get_avg_fps() or 0.0)
        self.info = VideoInfo(fps=fps if fps > 0 else 25.0, num_frames=n, width=w, height=h, backend="decord")

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for the sorted ``indices``; frame is (H, W, 3) uint8 RGB.

        Indices past the real end of the stream (frame counts in headers can be wrong) are
        silently not yielded; a decode failure raises VideoDecodeError. One reader serves one
        ``frames`` iteration at a time (it keeps decord's position between frames).
        """
        indices = [i for i in sorted(set(int(i) for i in indices)) if i < self.info.num_frames]
        done = 0
        if self._decord is None:
            try:
                for i, frame in _frames_pyav(self.path, indices):
                    yield i, frame
                    done += 1
                return
            except VideoDecodeError as e:
                if self.backend == "pyav" or _decord() is None:
                    raise
                log.debug("%s: PyAV failed mid-read (%s), continuing with decord", self.path, e)
                try:
                    self._open_decord()
                except Exception:
                    raise e from None
        yield from self._frames_decord(indices[done:])

    def _frames_decord(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        vr, at = self._decord, None  # `at`: the index vr.next() returns
        try:
            for i in indices:
                if at is None or i < at or i - at > _SEEK_GAP:
                    vr.seek_accurate(i)
                elif i > at:
                    vr.skip_frames(i - at)  # decoded, never converted
                at = i + 1
                try:
                    frame = vr.next().asnumpy()
                except StopIteration:  # the header promised more frames than the stream has
                    return
                yield i, frame
        except VideoDecodeError:
            raise
        except Exception as e:  # decord's own errors
            raise VideoDecodeError(f"decord: {_short(e)}") from None


# Signatures of the video containers people upload, at the start of the file: (offset, bytes, name).
_CONTAINERS = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1aE\xdf\xa3", "Matroska/WebM"), (0, b"RIFF", "AVI"),
               (0, b"FLV", "FLV"), (0, b"\x00\x00\x01\xba", "MPEG"))


def container_kind(path: str | Path) -> str | None:
    """The container a file's first bytes announce (e.g. "MP4/MOV"), or None."""
    with open(path, "rb") as f:
        head = f.read(12)
    return next((name for offset, magic, name in _CONTAINERS if head[offset:offset + len(magic)] == magic), None)


def check_video_file(path: str | Path) -> None:
    """Refuse files that FFmpeg would happily "decode" but that are no video: text (rendered as ANSI
    art by its ``tty`` demuxer) and still images. Raises ``VideoDecodeError``."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"file not found: {path}")
    try:
        with av.open(str(path)) as container:
            fmt = container.format.name
            streams = list(container.streams.video)
            codec = streams[0].codec_context.name if streams else None
    except Exception as e:  # PyAV raises its own error types per FFmpeg error code
        why = getattr(e, "strerror", None) or str(e)  # strerror: FFmpeg's words without the file path
        kind = container_kind(path)
        if kind:  # the start of a video container whose rest is missing or broken
            raise VideoDecodeError(f"a damaged or incomplete {kind} file: FFmpeg says {why!r}") from None
        raise VideoDecodeError(f"not a video file: FFmpeg says {why!r}") from None
    if not streams:
        raise VideoDecodeError("the file has no video stream")
    if fmt == "tty" or codec in ("ansi", "bintext", "xbin", "idf"):
        raise VideoDecodeError("this is a text file, not a video")
    if fmt == "image2" or fmt.endswith("_pipe"):
        raise VideoDecodeError("this is a still image, not a video")


def find_videos(paths: list[str | Path]) -> list[Path]:
    """Files as given plus the video files (by extension) anywhere under the folders given, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return out


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def _probe_pyav(path: Path) -> VideoInfo:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoDecodeError("no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25.0)
        n = int(stream.frames or 0)
        if n <= 0 and stream.duration and stream.time_base:
            n = int(round(float(stream.duration * stream.time_base) * fps))
        if n <= 0 and container.duration:
            n = int(round(container.duration / 1e6 * fps))
        first = next(container.decode(stream), None)
        if first is None:
            raise VideoDecodeError("no decodable frames")
        return VideoInfo(fps=fps, num_frames=max(n, 1), width=first.width, height=first.height, backend="pyav")


def _frames_pyav(path: Path, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Sequential decode (the fast path for dense indices), keeping only the wanted frames."""
    if not indices:
        return
    import av

    wanted = iter(indices)
    target = next(wanted)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i < target:
                    continue
                yield i, frame.to_ndarray(format="rgb24")
                target = next(wanted, None)
                if target is None:
                    return
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"pyav: {_short(e)}") from None


def have_h264() -> bool:
    try:
        import av
    except ImportError:
        return False
    return "libx264" in av.codecs_available


def video_codec(width: int, height: int, codec: str = "auto") -> str:
    """What ``write_video`` writes: ``"auto"`` → ``"h264"`` (what browsers play) when PyAV has libx264
    and both sides are even, else ``"mp4v"`` (MPEG-4 part 2 through OpenCV)."""
    if codec not in ("auto", "mp4v"):
        raise ValueError(f"codec must be 'auto' or 'mp4v', got {codec!r}")
    return "h264" if codec == "auto" and have_h264() and width % 2 == 0 and height % 2 == 0 else "mp4v"


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: int = 25, crf: int = 18,
                codec: str = "auto") -> Path:
    """RGB uint8 frames → an MP4 written atomically, in the codec ``video_codec`` picks."""
    path = Path(path)
    h, w = frames[0].shape[:2]
    with atomic_path(path) as tmp:
        _encode(tmp, frames, fps, crf, video_codec(w, h, codec))
    return path


def _encode(path: Path, frames: Sequence[np.ndarray], fps: int, crf: int, codec: str) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    if codec == "h264":
        import av

        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            # Byte-identical output for the same frames: one thread, a fixed B-frame pattern and no
            # macroblock-tree rate control. Measured with PyAV 18: adaptive B-frames gave other bytes about
            # once in 30 encodes of the same frames, and mb-tree did so in a process that had run MTCNN and
            # the preprocessing workers before; without both, 1,000 of 1,000 encodes and 30 of 30 sample
            # datasets in such a process were alike.
            stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1",
                              "x264-params": "b-adapt=0:mbtree=0"}
            for i, frame in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
                vf.pts = i
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"cannot open a video writer for {path.name} (no libx264 in PyAV, no mp4v in OpenCV)")
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
