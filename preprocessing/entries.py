"""What indexing a raw dataset tree produces: one ``VideoEntry`` per video, and its errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_MAX_LISTED = 8  # problems shown in one error message

# What counts as a video file when a folder is searched (datasets, predict, sample sources).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                    ".ts")

# The four manipulation methods of FaceForensics++ (folder names under manipulated_sequences/).
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


class DatasetError(ValueError):
    """A dataset tree that cannot be indexed; the message says what is wrong and where."""


@dataclass(frozen=True)
class VideoEntry:
    video_id: str  # unique across datasets/methods, e.g. ffpp/Deepfakes/c23/000_003
    path: Path  # absolute path of the raw video
    source: str  # path relative to the dataset root (for the manifest)
    dataset: str
    method: str  # real | Deepfakes | ... | dfdc | folder
    label: int  # 0 real, 1 fake
    split: str  # train | val | test
    original: str  # video_id of the real source (itself for reals and unknown sources)
    # The person or source photo: splits never put one identity on both sides. DFDC and FF++ group
    # by ``original``; folders take a CSV column, else one identity per video.
    identity: str = ""

    def __post_init__(self) -> None:
        if not self.identity:
            object.__setattr__(self, "identity", self.original)


def fail(what: str, problems: list[str]) -> DatasetError:
    shown = "\n  ".join(problems[:_MAX_LISTED])
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return DatasetError(f"{what}:\n  {shown}{more}")


def hash_fraction(key: str, seed: int) -> float:
    """Deterministic uniform number in [0, 1) for ``key`` (independent of PYTHONHASHSEED and machine)."""
    digest = hashlib.sha1(f"{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
