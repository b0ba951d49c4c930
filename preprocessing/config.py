"""Configuration of face preprocessing: one dataclass tree, every option with its default.

Annotations stay simple (int, float, str, bool, ``X | None``, ``Literal``, ``list[X]``, nested
dataclasses) because the generic loader in ``deepfake_ssat`` type-checks YAML values against them.
``FaceCropConfig`` is everything needed to reproduce the crops of one video, so a checkpoint can
carry it and inference crops faces exactly as training saw them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .entries import FFPP_METHODS

_RULE = re.compile(r"(>=|>) (-?[\d.]+)|in ([\[(])(-?[\d.]+), (-?[\d.]+)([\])])")


def check_fields(section: object, **rules: str) -> None:
    """Range rules per field, e.g. ``max_gap=">= 0"``, ``iou_threshold="in (0, 1)"``, ``min_score="in [0, 1]"``;
    a field that is None (unset) passes. ValueError "name: must be RULE, got VALUE" on the first broken one."""
    for name, rule in rules.items():
        value = getattr(section, name)
        m = _RULE.fullmatch(rule)
        if m is None:
            raise ValueError(f"bad rule {rule!r} for {name}")
        if value is None:
            continue
        if m.group(1):
            bound = float(m.group(2))
            ok = value >= bound if m.group(1) == ">=" else value > bound
        else:
            lo, hi = float(m.group(4)), float(m.group(5))
            above = lo <= value if m.group(3) == "[" else lo < value
            ok = above and (value <= hi if m.group(6) == "]" else value < hi)
        if not ok:
            raise ValueError(f"{name}: must be {rule}, got {value}")


def _validate_section(name: str, section: DetectorConfig | TrackerConfig | FaceCropConfig | ClipConfig) -> None:
    """Validate a nested section, naming it in the error ("faces.margin: ...")."""
    try:
        section.validate()
    except ValueError as e:
        raise ValueError(f"{name}.{e}") from None


@dataclass
class DetectorConfig:
    """MTCNN face detection on a subset of frames."""

    # Frames whose longer side exceeds this are downscaled before detection (1920x1080 -> 2x, as the
    # DFDC winner did; 1280x720 -> 1.33x; 512x512 untouched). Crops are always cut from full frames.
    max_side: int = 960
    # Run the detector on every k-th clip frame; boxes in between are interpolated along the track.
    every: int = 5
    # Smallest face MTCNN looks for, in source pixels (converted to the detection scale, floor 12 px);
    # matches the tracker's min_face_size: smaller faces are dropped anyway, and each halving of this
    # roughly doubles detection time.
    min_face_size: int = 32
    # MTCNN's three stage thresholds (P-net, R-net, O-net).
    thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.8])
    # Detections scoring below this are ignored by the tracker. Kept low on purpose: weak detections
    # still bridge a track (profile views, blur), and the track as a whole must reach the tracker's
    # min_score, which is where marginal faces are judged.
    min_score: float = 0.8
    batch_size: int = 8
    # 'auto' = CUDA when available, else CPU; or any torch device string ('cpu', 'cuda:1').
    device: str = "auto"

    def validate(self) -> None:
        check_fields(self, max_side=">= 64", every=">= 1", min_face_size=">= 1", min_score="in [0, 1]",
                     batch_size=">= 1")
        if len(self.thresholds) != 3 or not all(0.0 < t < 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds: must be three values in (0, 1), got {self.thresholds}")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device: must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")


@dataclass
class TrackerConfig:
    """IoU tracking of detections into one track per person, smoothing and filtering."""

    # A detection joins a track when its box overlaps the track's last (or motion-predicted) box this much.
    iou_threshold: float = 0.3
    # Failing that, a detection of similar size whose centre is within this many box sides of the
    # track's predicted centre (fast faces move more than their size between detector runs; 1.5
    # links a person hurrying through the crowd video that 1.0 lost, without merging neighbours there).
    max_shift: float = 1.5
    # A track survives this many clip frames without a detection (occlusion, a hand passing by);
    # the boxes across the gap are interpolated.
    max_gap: int = 30
    # Tracks shorter than this many clip frames are dropped (a 16-frame clip needs at least 16).
    min_frames: int = 16
    # Tracks whose median box side is below this (source pixels) are dropped as too small to use.
    min_face_size: int = 32
    # Tracks whose mean detection score is below this are dropped as spurious.
    min_score: float = 0.95
    # Centered moving-average window (clip frames) over box centre and size so crops do not jitter;
    # 1 turns smoothing off.
    smoothing: int = 9
    # A new shot starts where consecutive frames' colour histograms differ by more than this (total
    # variation distance, see preprocessing/shots.py); no track crosses it. null: no cut detection.
    cut_threshold: float | None = 0.12

    def validate(self) -> None:
        check_fields(self, iou_threshold="in (0, 1)", max_shift=">= 0", max_gap=">= 0", min_frames=">= 1",
                     min_face_size=">= 0", min_score="in [0, 1]", smoothing=">= 1", cut_threshold="in (0, 1)")


# Face options that older output folders and checkpoints recorded and that no longer exist:
# ``frame_cache_mb`` bounded a frame cache that streaming made unnecessary.
RETIRED_FACE_KEYS = ("frame_cache_mb",)


def current_face_settings(faces: dict) -> dict:
    """Recorded face settings without retired options, so old folders resume and old checkpoints load."""
    return {k: v for k, v in faces.items() if k not in RETIRED_FACE_KEYS}


@dataclass
class FaceCropConfig:
    """How faces are found and cut out of one video; travels with the checkpoint for inference."""

    # Square crop side = longer box side x margin (1.3 as the FF++ reference classifier).
    margin: float = 1.3
    # Crops are resized to size x size.
    size: int = 224
    # Keep every n-th frame of the video in the clip (1 = all frames).
    frame_stride: int = 1
    # At most this many clip frames per video (None = the whole video).
    max_frames: int | None = None
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    def validate(self) -> None:
        check_fields(self, margin=">= 1.0", size=">= 16", frame_stride=">= 1", max_frames=">= 1")
        _validate_section("detector", self.detector)
        _validate_section("tracker", self.tracker)


@dataclass
class ClipConfig:
    """How face-track clips are stored (see docs/preprocessing.md for the measurements)."""

    # 'jpeg_zip': one uncompressed zip per track holding one JPEG per frame (chosen by measurement).
    format: Literal["jpeg_zip"] = "jpeg_zip"
    quality: int = 95
    # JPEG chroma subsampling: '444' keeps colour detail around blending boundaries, '420' is smaller.
    subsampling: Literal["444", "422", "420"] = "444"

    def validate(self) -> None:
        check_fields(self, quality="in [1, 100]")


@dataclass
class PreprocessConfig:
    """Everything `deepfake-ssat preprocess` does: which dataset, where, how, how fast."""

    dataset: Literal["dfdc", "ffpp", "folder"] = "folder"
    # Root of the raw dataset tree.
    root: str = ""
    # Output folder: manifest.jsonl, clips/, tracks/, .state/ (resume journals).
    out: str = ""
    # FF++: compression level to read, the methods, and the folder holding train/val/test.json
    # (None = <root>/splits).
    compression: Literal["c23", "c40", "raw"] = "c23"
    methods: list[str] = field(default_factory=lambda: list(FFPP_METHODS))
    split_dir: str | None = None
    # folder: optional CSV of path,label[,split] or, under a header, columns path,label,split,method,identity
    # (paths relative to root); None = real/ and fake/<method>/.
    csv: str | None = None
    # DFDC train parts and folders without a split: share of groups (a real and its fakes; a folder
    # identity) for val.
    val_fraction: float = 0.1
    # Folders without a split: share of identities for test (0 = no test split).
    test_fraction: float = 0.0
    # DFDC: put whole dfdc_train_part_K folders on one side (as the DFDC winner), else group by original.
    split_by_part: bool = False
    seed: int = 0
    faces: FaceCropConfig = field(default_factory=FaceCropConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    # Fakes whose original is in the index reuse the original's tracks (same geometry, one detection).
    reuse_original_tracks: bool = True
    # Worker processes; 0 runs in the calling process (debugging; no per-video time limit then).
    workers: int = 1
    # Torch threads per worker; 0 = CPU cores / workers.
    threads_per_worker: int = 0
    # A video taking longer than this (seconds) is cut off and recorded as 'timeout'.
    timeout: float = 600.0
    # Rerun videos whose earlier attempt failed (decode error, timeout, crash); finished ones are kept.
    retry_failed: bool = False
    # Process only the first N videos (whole groups first) for quick runs.
    limit: int | None = None
    progress: bool = True

    def validate(self) -> None:
        if not self.root:
            raise ValueError("root: required (the raw dataset folder)")
        if not self.out:
            raise ValueError("out: required (the output folder)")
        if not self.methods and self.dataset == "ffpp":
            raise ValueError("methods: needs at least one FF++ method")
        check_fields(self, val_fraction="in [0, 1)", test_fraction="in [0, 1)", workers=">= 0",
                     threads_per_worker=">= 0", timeout="> 0", limit=">= 1")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"test_fraction: val_fraction + test_fraction must stay below 1, got "
                             f"{self.val_fraction} + {self.test_fraction}")
        _validate_section("faces", self.faces)
        _validate_section("clip", self.clip)
