"""Raw videos (DFDC, FaceForensics++, folders) -> face-track clips + manifest; and one video -> faces.

Imports nothing from ``deepfake_ssat`` (layering: preprocessing -> deepfake_ssat -> app). Names are
imported on first use, so ``import preprocessing.config`` (the CLI's flags) does not load torch and MTCNN.
"""

from __future__ import annotations

from .lazy import lazy_attributes

_EXPORTS = {
    "clip_length": "clips", "read_clip": "clips", "write_clip": "clips",
    "ClipConfig": "config", "DetectorConfig": "config", "FaceCropConfig": "config", "PreprocessConfig": "config",
    "TrackerConfig": "config",
    "DatasetError": "datasets", "VideoEntry": "datasets", "index_dataset": "datasets",
    "FaceTrack": "faces", "VideoFaces": "faces", "extract_tracks": "faces",
    "read_manifest": "manifest", "write_manifest": "manifest",
    "run_preprocess": "runner",
    "VideoDecodeError": "video",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS, globals())
