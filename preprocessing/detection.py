"""Batched MTCNN face detection on downscaled frames, boxes returned in source-pixel coordinates."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .config import DetectorConfig

# One MTCNN per (device, settings) and process: every video of a worker reuses the loaded nets.
_CACHE: dict[tuple, object] = {}


def resolve_device(device: str) -> str:
    """'auto' -> the GPU of this torchrun process (LOCAL_RANK) or cuda:0 when CUDA is there, else CPU."""
    if device != "auto":
        return device
    if not torch.cuda.is_available():
        return "cpu"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return f"cuda:{local % torch.cuda.device_count()}"


def detection_scale(width: int, height: int, max_side: int) -> float:
    """Factor applied to frames before detection: 1080p -> 0.5 at max_side 960, small frames untouched."""
    return min(1.0, max_side / max(width, height))


class FaceDetector:
    """MTCNN (facenet-pytorch) over batches of same-sized frames.

    ``detect`` takes full-resolution RGB frames, downscales them for speed and returns, per frame,
    boxes (N, 4) as x1, y1, x2, y2 in source pixels, scores (N,) and MTCNN's five landmarks (N, 5, 2)
    (eyes, nose, mouth corners) in source pixels.
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self._mtcnn = self._load()

    def _load(self):
        key = (self.device, tuple(self.cfg.thresholds))
        if key not in _CACHE:
            from facenet_pytorch import MTCNN

            _CACHE[key] = MTCNN(
                keep_all=True, device=self.device, thresholds=list(self.cfg.thresholds), post_process=False
            )
        return _CACHE[key]

    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if not len(frames):
            return []
        h, w = frames[0].shape[:2]
        scale = detection_scale(w, h, self.cfg.max_side)
        # MTCNN's pyramid starts at 12 px; asking for smaller faces only costs time.
        self._mtcnn.min_face_size = max(12, int(round(self.cfg.min_face_size * scale)))
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, len(frames), self.cfg.batch_size):
            chunk = frames[start : start + self.cfg.batch_size]
            if scale < 1.0:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                chunk = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in chunk]
            batch = np.ascontiguousarray(np.stack(chunk))
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # facenet-pytorch's numpy/torch deprecation chatter
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for b, p, lm in zip(boxes, probs, points, strict=True):
                if b is None or len(b) == 0:
                    out.append((np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                                np.zeros((0, 5, 2), np.float32)))
                    continue
                b = np.asarray(b, np.float32) / scale
                lm = np.asarray(lm, np.float32).reshape(-1, 5, 2) / scale
                p = np.asarray(p, np.float32).reshape(-1)
                keep = p >= self.cfg.min_score
                out.append((b[keep], p[keep], lm[keep]))
        return out
