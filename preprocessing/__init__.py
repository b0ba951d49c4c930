"""Raw videos (DFDC, FaceForensics++, folders) -> face-track clips + manifest; and one video -> faces.

Imports nothing from ``deepfake_ssat`` (layering: preprocessing -> deepfake_ssat -> app).
"""

from .clips import clip_length, read_clip, write_clip
from .config import ClipConfig, DetectorConfig, FaceCropConfig, PreprocessConfig, TrackerConfig
from .datasets import DatasetError, VideoEntry, index_dataset
from .faces import FaceTrack, VideoFaces, extract_tracks
from .manifest import read_manifest, write_manifest
from .runner import run_preprocess
from .video import VideoDecodeError

__all__ = [
    "ClipConfig",
    "DatasetError",
    "DetectorConfig",
    "FaceCropConfig",
    "FaceTrack",
    "PreprocessConfig",
    "TrackerConfig",
    "VideoDecodeError",
    "VideoEntry",
    "VideoFaces",
    "clip_length",
    "extract_tracks",
    "index_dataset",
    "read_clip",
    "read_manifest",
    "run_preprocess",
    "write_clip",
    "write_manifest",
]
