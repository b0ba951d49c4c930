"""The one config schema: typed dataclasses for the model, data, train and eval sections.

YAML presets in ``deepfake_ssat/configs/`` only supply values; ``--set section.key=value`` overrides them; the
resolved config is saved next to every run's outputs (``config.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from .architectures import list_models
from .configschema import ConfigError, Override, build, read_yaml, save_yaml, to_dict

# YAML presets live inside the package so that a wheel (`pip install .`) carries them.
PRESET_DIR = Path(__file__).resolve().parent / "configs"


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


# scratch: classifier only; ssat: classifier + masked reconstruction, jointly; pretrain: reconstruction
# only; finetune: classifier initialised from a pretrain checkpoint (model.init).
Mode = Literal["scratch", "ssat", "pretrain", "finetune"]


@dataclass
class ModelConfig:
    """The model: architecture (registry name + overrides) and the SSAT options. The one declaration of
    every model option: ``create_model`` builds from it, checkpoints store it, the CLI shortcuts set it."""

    name: str = "vit_tiny"
    mode: Mode = "ssat"
    # Architecture overrides (null keeps the registered model's value).
    img_size: int | None = None
    patch_size: int | None = None
    num_frames: int | None = None
    global_pool: Literal["token", "avg"] | None = None
    decoder_depth: int | None = None
    decoder_dim: int | None = None
    decoder_heads: int | None = None
    # SSAT.
    mask_ratio: float = 0.75
    lambda_cls: float = 0.1  # λ in L = λ·L_cls + (1 − λ)·L_rec
    # auto: per_channel for video (VideoMAE), norm_pix for images (MAE's option). The official SSAT
    # image code leaves norm_pix off and regresses the normalised input: `input`. `none`: [0, 1] pixels.
    target_norm: Literal["auto", "none", "input", "norm_pix", "per_channel"] = "auto"
    decoder_keep_ratio: float = 1.0  # < 1: reconstruct only this share of hidden tokens (VideoMAE V2)
    drop_path: float = 0.1
    grad_checkpointing: bool = False
    # Weights to start from: our checkpoint, an official/Hugging Face VideoMAE or timm ViT file,
    # or a Hugging Face hub id. Required for mode=finetune.
    init: str | None = None

    def validate(self) -> None:
        _check(self.name in list_models(), f"name: unknown model {self.name!r}; available: {', '.join(list_models())}")
        _check(0.0 < self.mask_ratio < 1.0, f"mask_ratio: must be in (0, 1), got {self.mask_ratio}")
        _check(0.0 <= self.lambda_cls <= 1.0, f"lambda_cls: must be in [0, 1], got {self.lambda_cls}")
        _check(0.0 < self.decoder_keep_ratio <= 1.0,
               f"decoder_keep_ratio: must be in (0, 1], got {self.decoder_keep_ratio}")
        _check(0.0 <= self.drop_path < 1.0, f"drop_path: must be in [0, 1), got {self.drop_path}")
        for key in ("img_size", "patch_size", "num_frames", "decoder_depth", "decoder_dim", "decoder_heads"):
            value = getattr(self, key)
            _check(value is None or value > 0, f"{key}: must be positive, got {value}")
        _check(self.mode != "finetune" or self.init is not None,
               "init: mode 'finetune' needs model.init=<pretrain checkpoint>")


@dataclass
class VideoAugmentConfig:
    """Training augmentation of clips; each ``*_p`` is a probability, 0 switches that step off."""

    enabled: bool = True  # false: resize only (as in evaluation)
    compression_p: float = 0.5
    compression_quality: tuple[int, int] = (60, 100)  # JPEG quality range
    noise_p: float = 0.1
    noise_std: tuple[float, float] = (0.012, 0.028)  # fraction of 255
    blur_p: float = 0.05
    blur_kernel: int = 3  # odd
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    hflip_p: float = 0.5
    color_p: float = 0.7  # one of the enabled colour transforms below
    brightness_contrast: bool = True
    brightness_limit: float = 0.2
    contrast_limit: float = 0.2
    fancy_pca: bool = True
    fancy_pca_alpha: float = 0.1
    hue_saturation: bool = True
    hue_shift: float = 20.0
    sat_shift: float = 30.0
    val_shift: float = 20.0
    gray_p: float = 0.2
    affine_p: float = 0.5  # ShiftScaleRotate, as albumentations 2's Affine
    shift_limit: float = 0.1  # fraction of the side
    scale_limit: float = 0.2  # scale in [1 - l, 1 + l]
    rotate_limit: float = 10.0  # degrees

    def validate(self) -> None:
        for f in fields(self):
            if f.name.endswith("_p"):
                p = getattr(self, f.name)
                _check(0.0 <= p <= 1.0, f"{f.name}: must be a probability in [0, 1], got {p}")
        lo, hi = self.compression_quality
        _check(1 <= lo <= hi <= 100, f"compression_quality: need 1 <= low <= high <= 100, got {(lo, hi)}")
        lo, hi = self.noise_std
        _check(0.0 <= lo <= hi <= 1.0, f"noise_std: need 0 <= low <= high <= 1, got {(lo, hi)}")
        _check(self.blur_kernel >= 3 and self.blur_kernel % 2 == 1,
               f"blur_kernel: must be odd and >= 3, got {self.blur_kernel}")
        lo, hi = self.blur_sigma
        _check(0.0 < lo <= hi, f"blur_sigma: need 0 < low <= high, got {(lo, hi)}")
        for name in ("brightness_limit", "contrast_limit", "fancy_pca_alpha", "hue_shift", "sat_shift", "val_shift",
                     "shift_limit", "rotate_limit"):
            _check(getattr(self, name) >= 0, f"{name}: must be >= 0, got {getattr(self, name)}")
        _check(0.0 <= self.scale_limit < 1.0, f"scale_limit: must be in [0, 1), got {self.scale_limit}")
        _check(self.color_p == 0 or self.brightness_contrast or self.fancy_pca or self.hue_saturation,
               "color_p: is > 0 but brightness_contrast, fancy_pca and hue_saturation are all off")


@dataclass
class PseudoFakeConfig:
    """Self-blended video pseudo-fakes made from real clips (SBI, Shiohara & Yamasaki 2022, for video):
    the face region of a clip is replaced by a slightly altered copy of itself, so a detector learns
    blending seams and colour/sharpness mismatches without any real fake. One draw per clip; the mask
    follows the landmarks frame by frame. Lengths are in units of d, the eye-to-mouth distance."""

    kind: Literal["none", "sbv"] = "none"  # sbv: self-blended video ("off" would read as false in YAML)
    share: float = 0.5  # of the training clips that are pseudo-fakes (each made from a random real track)
    colour: float = 0.08  # per-channel gain of the blended copy in 1 ± colour
    brightness: float = 0.08  # added to the copy, fraction of 255, in ± brightness
    contrast: float = 0.1  # contrast of the copy in 1 ± contrast
    sharpness: float = 1.0  # the copy blurred (sigma up to this, px) or sharpened (amount up to this), half each
    scale: float = 0.04  # the copy resized about the face centre by 1 ± scale
    shift: float = 0.04  # and moved by ± shift · d
    size: tuple[float, float] = (0.85, 1.15)  # mask size factor range (1: the face ellipse)
    wobble: float = 0.08  # outline radius factors in 1 ± wobble (an irregular hull)
    feather: tuple[float, float] = (0.05, 0.25)  # mask edge blur sigma range, · d
    opacity: tuple[float, float] = (0.75, 1.0)  # blend strength range inside the mask
    jitter: float = 0.0  # per-frame wobble of the mask centre, · d (0: a temporally consistent blend)

    def validate(self) -> None:
        _check(0.0 < self.share < 1.0, f"share: must be in (0, 1), got {self.share}")
        for name in ("colour", "brightness", "contrast", "sharpness", "scale", "shift", "wobble", "jitter"):
            _check(getattr(self, name) >= 0, f"{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("size", "feather", "opacity"):
            lo, hi = getattr(self, name)
            _check(0 <= lo <= hi, f"{name}: need 0 <= low <= high, got {(lo, hi)}")
        _check(self.opacity[1] <= 1.0, f"opacity: must be at most 1, got {self.opacity}")


@dataclass
class DataConfig:
    dataset: str = "cifar10"
    root: str = "data"
    download: bool = True  # torchvision datasets: fetch when missing (needs internet)
    num_workers: int = 4
    # Limited-data experiments: a deterministic subset of the training set.
    train_fraction: float | None = None
    train_per_class: int | None = None
    subset_seed: int = 0
    # Datasets without a validation split (CIFAR, SVHN, Fashion-MNIST) hold out this share of the
    # training set, stratified and fixed by subset_seed, so the `best` checkpoint is never chosen
    # on the test set. The limited-data subset is drawn from the rest.
    val_fraction: float = 0.1
    # Normalisation; null = the dataset's own statistics.
    mean: list[float] | None = None
    std: list[float] | None = None
    # Image training augmentation (paper Table 14). Evaluation only resizes when the dataset's
    # images are not already at the model's input size; 32 px images are never upscaled.
    randaugment: str | None = "rand-m9-mstd0.5-inc1"
    reprob: float = 0.25  # random erasing
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop area range
    hflip: float = 0.5
    mixup: float = 0.8  # alpha; 0 disables
    cutmix: float = 1.0  # alpha; 0 disables
    mixup_prob: float = 1.0
    # false: mixup/cutmix feed the classifier only; the decoder reconstructs the un-mixed images
    # (true = the official SSAT code's behaviour: both passes see the mixed batch).
    mixup_reconstruction: bool = True
    # Video: face-track clips written by `deepfake-ssat preprocess`; `root` is its --out folder.
    manifest: str | None = None  # default <root>/manifest.jsonl
    clip_stride: int = 1  # stored frames between consecutive frames of a clip
    segment_step: int | None = None  # evaluation: frames between segment starts; null = non-overlapping
    methods: list[str] | None = None  # train/val on these methods only ('real' = real videos); null = all
    # Identities (manifest column) kept out of training and validation: the leave-one-out protocol puts
    # here the people of a held-out method's fakes, so their real videos can be tested beside them.
    exclude_identities: list[str] | None = None
    balanced_sampler: bool = False  # draw real and fake tracks equally often (with replacement)
    # Gaussian blur sigma, in pixels of the model's input, on every frame in training, evaluation and
    # inference (recorded in the checkpoint); 0 = off. A shortcut check: what a model still separates
    # without the high frequencies is not blending or texture.
    lowpass_sigma: float = 0.0
    augment: VideoAugmentConfig = field(default_factory=VideoAugmentConfig)
    # Video: pseudo-fakes made from real clips (needs data preprocessed with landmarks).
    pseudo_fakes: PseudoFakeConfig = field(default_factory=PseudoFakeConfig)

    def validate(self) -> None:
        _check(self.num_workers >= 0, f"num_workers: must be >= 0, got {self.num_workers}")
        _check(self.train_fraction is None or 0.0 < self.train_fraction <= 1.0,
               f"train_fraction: must be in (0, 1], got {self.train_fraction}")
        _check(0 < self.val_fraction < 1, f"val_fraction: must be in (0, 1), got {self.val_fraction}")
        _check(self.train_per_class is None or self.train_per_class > 0,
               f"train_per_class: must be positive, got {self.train_per_class}")
        _check(self.train_fraction is None or self.train_per_class is None,
               "train_fraction: set either train_fraction or train_per_class, not both")
        _check((self.mean is None) == (self.std is None), "mean: set mean and std together")
        _check(0 <= self.reprob <= 1, f"reprob: must be in [0, 1], got {self.reprob}")
        _check(0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
               f"crop_scale: need 0 < min <= max <= 1, got {self.crop_scale}")
        _check(0 <= self.hflip <= 1, f"hflip: must be in [0, 1], got {self.hflip}")
        _check(self.mixup >= 0 and self.cutmix >= 0, "mixup: mixup and cutmix alphas must be >= 0")
        _check(0 <= self.mixup_prob <= 1, f"mixup_prob: must be in [0, 1], got {self.mixup_prob}")
        _check(self.clip_stride >= 1, f"clip_stride: must be >= 1, got {self.clip_stride}")
        _check(self.lowpass_sigma >= 0, f"lowpass_sigma: must be >= 0, got {self.lowpass_sigma}")
        _check(self.segment_step is None or self.segment_step >= 1,
               f"segment_step: must be >= 1, got {self.segment_step}")
        if self.std is not None:
            _check(all(s > 0 for s in self.std), f"std: must be positive, got {self.std}")


@dataclass
class TrainConfig:
    # The budget: epochs, or optimiser steps (set one, null the other). With steps the lr schedule spans
    # exactly them and training ends at the last (mid-epoch if need be): steps, not epochs, are what
    # recipes compare by, as an epoch of a small dataset is a handful of steps.
    epochs: int | None = 100
    steps: int | None = None
    batch_size: int = 64  # per process
    lr: float = 1e-3
    # If set, the effective lr is lr × (total batch) / lr_base_batch (MAE/VideoMAE convention).
    lr_base_batch: int | None = None
    min_lr: float = 1e-6
    warmup_epochs: float = 5.0
    warmup_steps: int | None = None  # replaces warmup_epochs when set
    weight_decay: float = 0.05
    layer_decay: float | None = 0.75
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = None
    accum_steps: int = 1
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # torch.compile the model's forward (training and evaluation); the first steps pay the compile time.
    compile: bool = False
    label_smoothing: float = 0.1
    class_weights: list[float] | None = None
    # Weight w on the real class of the binary CE (the paper's weighted cross-entropy); "auto" sets
    # w = fakes / reals of the training tracks. Only for video datasets; exclusive with class_weights.
    real_weight: float | Literal["auto"] | None = None
    seed: int = 0
    device: str = "auto"
    output_dir: str = "runs/default"
    save_every_steps: int | None = None
    max_steps: int | None = None  # stop early (smoke runs); the schedule still spans the whole budget
    # Early stopping: end the run after this many validations in a row without a better selection metric
    # (eval.metric); null = off (the paper presets train their whole budget). best.pt holds the best.
    patience: int | None = None
    log_every: int = 20

    def validate(self) -> None:
        _check((self.epochs is None) != (self.steps is None),
               f"epochs: the budget is epochs or steps, set one and null the other (got epochs {self.epochs}, "
               f"steps {self.steps}; e.g. --set train.steps=null to train by epochs)")
        _check(self.epochs is None or self.epochs > 0, f"epochs: must be positive, got {self.epochs}")
        _check(self.steps is None or self.steps > 0, f"steps: must be positive, got {self.steps}")
        _check(self.warmup_steps is None or self.warmup_steps >= 0,
               f"warmup_steps: must be >= 0, got {self.warmup_steps}")
        _check(self.patience is None or self.patience > 0, f"patience: must be positive, got {self.patience}")
        _check(self.batch_size > 0, f"batch_size: must be positive, got {self.batch_size}")
        _check(self.lr > 0, f"lr: must be positive, got {self.lr}")
        _check(0 <= self.min_lr <= self.lr, f"min_lr: must be in [0, lr], got {self.min_lr}")
        _check(self.warmup_epochs >= 0, f"warmup_epochs: must be >= 0, got {self.warmup_epochs}")
        _check(self.weight_decay >= 0, f"weight_decay: must be >= 0, got {self.weight_decay}")
        _check(self.layer_decay is None or 0 < self.layer_decay <= 1,
               f"layer_decay: must be in (0, 1], got {self.layer_decay}")
        _check(all(0 <= b < 1 for b in self.betas), f"betas: must be in [0, 1), got {self.betas}")
        _check(self.clip_grad is None or self.clip_grad > 0, f"clip_grad: must be positive, got {self.clip_grad}")
        _check(self.accum_steps >= 1, f"accum_steps: must be >= 1, got {self.accum_steps}")
        _check(0 <= self.label_smoothing < 1, f"label_smoothing: must be in [0, 1), got {self.label_smoothing}")
        if self.class_weights is not None:
            _check(all(w > 0 for w in self.class_weights), f"class_weights: must be positive, got {self.class_weights}")
        _check(self.real_weight is None or self.class_weights is None,
               "real_weight: set either real_weight or class_weights, not both")
        _check(not isinstance(self.real_weight, float) or self.real_weight > 0,
               f"real_weight: must be positive or 'auto', got {self.real_weight}")
        _check(self.lr_base_batch is None or self.lr_base_batch > 0,
               f"lr_base_batch: must be positive, got {self.lr_base_batch}")
        _check(self.max_steps is None or self.max_steps > 0, f"max_steps: must be positive, got {self.max_steps}")
        _check(self.log_every > 0, f"log_every: must be positive, got {self.log_every}")


@dataclass
class EvalConfig:
    batch_size: int = 128
    every_epochs: int = 1
    metric: str = "top1"  # validation metric that selects the `best` checkpoint
    test_at_end: bool = True  # evaluate best and last on the test split when training ends

    def validate(self) -> None:
        _check(self.batch_size > 0, f"batch_size: must be positive, got {self.batch_size}")
        _check(self.every_epochs > 0, f"every_epochs: must be positive, got {self.every_epochs}")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def preset_path(name: str) -> Path:
    """A preset name (``image/cifar10``, ``image/cifar10.yaml``) or any YAML path → existing file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    candidate = PRESET_DIR / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if candidate.is_file():
        return candidate
    presets = sorted(str(q.relative_to(PRESET_DIR).with_suffix("")) for q in PRESET_DIR.rglob("*.yaml"))
    raise ConfigError(f"config {name!r} not found; presets: {', '.join(presets) or 'none'}")


def load_config(*layers: str | Path | dict, overrides: Iterable[Override] = ()) -> Config:
    """Defaults ← each YAML preset/path or dict in order ← dotted overrides; validated."""
    dicts = [layer if isinstance(layer, dict) else read_yaml(preset_path(str(layer))) for layer in layers]
    return build(Config, *dicts, overrides=overrides)


def save_config(cfg: Config, path: str | Path) -> None:
    save_yaml(cfg, path)


__all__ = ["Config", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig", "TrainConfig", "load_config",
           "preset_path", "save_config", "to_dict"]
