"""Loading foreign weights: official VideoMAE (pre-train / fine-tune), Hugging Face VideoMAE,
timm ViT and MAE image checkpoints, and this project's own checkpoints.

Every source is first renamed into this project's key layout, then loaded non-strictly; the
missing/unexpected keys are logged, and a load that would leave the encoder trunk (patch
embedding or transformer blocks) partly random is refused rather than silently half-done.
Files are read with ``torch.load(weights_only=True)``: no arbitrary pickles.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..detector_folder import is_hub_id
from .ssat import SSATModel

log = logging.getLogger(__name__)

# License notes for weight sources users commonly load (DESIGN §4: record each source's license).
WEIGHT_LICENSES = {
    "hf-videomae": "VideoMAE weights on the Hugging Face hub (MCG-NJU/*) are CC-BY-NC-4.0",
    "official-videomae": "official VideoMAE checkpoints: CC-BY-NC-4.0",
    "timm": "timm ViT weights: see the model card of the chosen weights (DeiT: Apache-2.0)",
    "mae": "MAE checkpoints: CC-BY-NC-4.0",
    "deepfake-ssat": "a deepfake-ssat checkpoint: as its author licensed it",
}


class WeightLoadError(ValueError):
    """Weights that cannot be loaded into the model without leaving it half-initialised."""


@dataclass
class LoadReport:
    source_format: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)  # shape mismatch, e.g. a new class head


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def read_state_dict(source: str | Path) -> dict[str, torch.Tensor]:
    """A file path (.pth/.pt/.bin/.safetensors) or a Hugging Face hub id → flat state dict."""
    path = Path(source)
    if not path.exists():
        if is_hub_id(source):
            path = _download_from_hub(str(source))
        else:
            raise FileNotFoundError(f"weights not found: {source} (give a file path or a Hugging Face hub id)")
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin", "checkpoint.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"no model.safetensors / pytorch_model.bin / checkpoint.pt in {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickles with custom classes are refused by weights_only
            raise WeightLoadError(f"cannot read {path} as a weights-only checkpoint: {e}") from None
    return _unwrap(obj, path)


def _download_from_hub(repo_id: str) -> Path:
    from huggingface_hub import hf_hub_download

    last_error: Exception | None = None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            return Path(hf_hub_download(repo_id, filename))
        except Exception as e:  # file absent in this repo, or offline
            last_error = e
    raise FileNotFoundError(f"could not fetch weights for hub id {repo_id!r}: {last_error}")


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Checkpoints nest the weights under 'model', 'module' or 'state_dict'."""
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("model", "module", "state_dict", "model_state"):
            if key in obj:
                obj = obj[key]
                break
        else:
            raise WeightLoadError(f"{path}: no state dict found (top-level keys: {sorted(obj)[:8]})")
    if not isinstance(obj, dict):
        raise WeightLoadError(f"{path}: expected a state dict, got {type(obj).__name__}")
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    # DataParallel / torch.compile prefixes.
    for prefix in ("module.", "_orig_mod."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


# ---------------------------------------------------------------------------------------------
# Renaming into our layout
# ---------------------------------------------------------------------------------------------
def detect_format(sd: dict[str, torch.Tensor]) -> str:
    keys = sd.keys()
    if any(k.startswith("videomae.") for k in keys):
        return "hf-videomae"
    if any(k.startswith("encoder.blocks.") for k in keys) and "encoder.patch_embed.proj.weight" in sd:
        if any(k.startswith("decoder.embed.") for k in keys) or "encoder.pos_embed" in sd:
            return "deepfake-ssat"
        return "official-videomae"  # pre-training checkpoint: encoder.* / encoder_to_decoder / decoder.*
    if "patch_embed.proj.weight" in sd:
        if sd["patch_embed.proj.weight"].dim() == 5:
            return "official-videomae"
        return "mae" if any(k.startswith("decoder_blocks.") for k in keys) else "timm"
    raise WeightLoadError("unrecognised checkpoint layout (expected VideoMAE, Hugging Face VideoMAE, timm/MAE ViT "
                          f"or deepfake-ssat keys; first keys: {list(keys)[:5]})")


_HF_LAYER = [
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
    ("attention.output.dense.", "attn.proj."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
]


def _fuse_qkv(sd: dict[str, torch.Tensor], prefix: str, names: dict[str, str]) -> None:
    """q/k/v projections (with VideoMAE's q and v biases, no k bias) → one fused qkv linear.

    A k bias adds the same q·b to every key's score of a query, which softmax ignores, so the zero
    k bias of the fused layer is exactly equivalent.
    """
    q = sd.pop(prefix + names["q"])
    k = sd.pop(prefix + names["k"])
    v = sd.pop(prefix + names["v"])
    sd[prefix + "attn.qkv.weight"] = torch.cat([q, k, v], dim=0)
    qb = sd.pop(prefix + names["qb"], None)
    vb = sd.pop(prefix + names["vb"], None)
    kb = sd.pop(prefix + names.get("kb", "\0"), None)
    if qb is not None or vb is not None:
        zeros = torch.zeros(q.shape[0], dtype=q.dtype)
        sd[prefix + "attn.qkv.bias"] = torch.cat(
            [qb if qb is not None else zeros, kb if kb is not None else zeros, vb if vb is not None else zeros]
        )


def _from_hf_videomae(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face VideoMAE → official VideoMAE pre-training layout (encoder.*/decoder.*)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        k = k.replace("videomae.embeddings.patch_embeddings.projection.", "encoder.patch_embed.proj.")
        k = k.replace("videomae.encoder.layer.", "encoder.blocks.")
        k = k.replace("videomae.layernorm.", "encoder.norm.")
        k = k.replace("decoder.decoder_layers.", "decoder.blocks.")
        k = re.sub(r"^classifier\.", "head.", k)
        if ".blocks." in k:
            for old, new in _HF_LAYER:
                k = k.replace(old, new)
        out[k] = v
    names = {
        "q": "attention.attention.query.weight", "k": "attention.attention.key.weight",
        "v": "attention.attention.value.weight",
        # transformers ≥ 5 stores VideoMAE's q_bias/v_bias as query.bias/value.bias.
        "qb": "attention.attention.query.bias", "vb": "attention.attention.value.bias",
        "kb": "attention.attention.key.bias",
    }
    legacy = {**names, "qb": "attention.attention.q_bias", "vb": "attention.attention.v_bias"}
    for prefix in sorted({k.split("attention.attention.")[0] for k in out if "attention.attention." in k}):
        use = legacy if prefix + legacy["qb"] in out else names
        _fuse_qkv(out, prefix, use)
    return out


def _from_official_videomae(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official VideoMAE (q_bias/v_bias, encoder_to_decoder, fine-tune head at the top level) → ours."""
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        m = re.match(r"^(encoder\.|decoder\.)?blocks\.(\d+)\.attn\.(q_bias|v_bias)$", k)
        if m:
            continue  # fused below
        if k == "encoder_to_decoder.weight":
            out["decoder.embed.weight"] = v
            out["decoder.embed.bias"] = torch.zeros(v.shape[0], dtype=v.dtype)
        elif k == "mask_token":
            out["decoder.mask_token"] = v
        elif k == "encoder.norm.weight" or k == "encoder.norm.bias":
            # Pre-training normalises encoder tokens before the decoder; our mean-pooling encoder
            # keeps that LayerNorm on the decoder side.
            out[k.replace("encoder.norm.", "decoder.input_norm.")] = v
        elif k.startswith(("encoder.", "decoder.")):
            out[k] = v
        elif k in ("pos_embed",):
            continue  # fixed table; ours is recomputed identically
        else:
            out["encoder." + k] = v  # fine-tune checkpoints: patch_embed, blocks, fc_norm, head, norm
    for k, v in sd.items():
        m = re.match(r"^((?:encoder\.|decoder\.)?blocks\.\d+\.attn\.)q_bias$", k)
        if m:
            p = m.group(1)
            p_out = p if p.startswith(("encoder.", "decoder.")) else "encoder." + p
            vb = sd[p + "v_bias"]
            out[p_out + "qkv.bias"] = torch.cat([v, torch.zeros_like(v), vb])
    return out


def _from_timm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"encoder." + k: v for k, v in sd.items()}


def _from_mae(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k == "mask_token":
            out["decoder.mask_token"] = v
        elif k == "decoder_pos_embed":
            out["decoder.pos_embed"] = v
        elif k.startswith("decoder_embed."):
            out["decoder.embed." + k.split(".", 1)[1]] = v
        elif k.startswith("decoder_blocks."):
            out["decoder.blocks." + k.split(".", 1)[1]] = v
        elif k.startswith("decoder_norm."):
            out["decoder.norm." + k.split(".", 1)[1]] = v
        elif k.startswith("decoder_pred."):
            out["decoder.head." + k.split(".", 1)[1]] = v
        else:
            out["encoder." + k] = v
    return out


def convert_state_dict(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    fmt = detect_format(sd)
    if fmt == "hf-videomae":
        converted = _from_official_videomae(_from_hf_videomae(sd))
    elif fmt == "official-videomae":
        converted = _from_official_videomae(sd)
    elif fmt == "timm":
        converted = _from_timm(sd)
    elif fmt == "mae":
        converted = _from_mae(sd)
    else:
        converted = dict(sd)
    return converted, fmt


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
_TRUNK = re.compile(r"^encoder\.(patch_embed\.|blocks\.)")


def load_weights(model: SSATModel, source: str | Path | dict[str, torch.Tensor]) -> LoadReport:
    """Load foreign or own weights into ``model``; refuse loads that leave the trunk half-random."""
    sd = _unwrap(source, Path("<state dict>")) if isinstance(source, dict) else read_state_dict(source)
    sd, fmt = convert_state_dict(sd)
    report = LoadReport(source_format=fmt)
    own = model.state_dict()

    pos_key = "encoder.pos_embed"
    if pos_key in sd and pos_key in own and sd[pos_key].shape != own[pos_key].shape:
        sd[pos_key] = _resample_pos_embed(sd[pos_key], model)
    for key in list(sd):
        if key in own and sd[key].shape != own[key].shape:
            if _TRUNK.match(key):
                raise WeightLoadError(
                    f"{key}: checkpoint shape {tuple(sd[key].shape)} != model {tuple(own[key].shape)} — "
                    "the checkpoint is for a different architecture (model size, patch/tubelet or input size)"
                )
            report.reinitialised.append(key)
            del sd[key]

    result = model.load_state_dict(sd, strict=False)
    # Fixed sin-cos tables are recomputed by the model, so their absence is not a gap.
    fixed = {name for name, _ in model.named_buffers() if name.endswith("pos_embed")}
    report.missing = [k for k in result.missing_keys if k not in fixed]
    report.unexpected = list(result.unexpected_keys)
    trunk_missing = [k for k in report.missing if _TRUNK.match(k)]
    if trunk_missing:
        raise WeightLoadError(
            f"checkpoint ({fmt}) lacks {len(trunk_missing)} encoder weights, e.g. {trunk_missing[:3]}; "
            "refusing a half-loaded model"
        )
    loaded = len(sd) - len(report.unexpected)
    if loaded == 0:
        raise WeightLoadError(f"no weights of the checkpoint ({fmt}) match this model")
    log.info("loaded %d tensors from a %s checkpoint (%s)", loaded, fmt, WEIGHT_LICENSES.get(fmt, ""))
    if report.missing:
        log.warning("missing (left at initialisation): %s", _summarise(report.missing))
    if report.unexpected:
        log.warning("unexpected (ignored): %s", _summarise(report.unexpected))
    if report.reinitialised:
        log.warning("shape differs, re-initialised: %s", _summarise(report.reinitialised))
    return report


def _summarise(keys: list[str]) -> str:
    groups: dict[str, int] = {}
    for k in keys:
        g = re.sub(r"\.(weight|bias)$", "", re.sub(r"\.\d+\.", ".N.", k))
        groups[g] = groups.get(g, 0) + 1
    return ", ".join(f"{g} ×{n}" if n > 1 else g for g, n in sorted(groups.items()))


def _resample_pos_embed(pos: torch.Tensor, model: SSATModel) -> torch.Tensor:
    """Interpolate a learned 2-D image position table to the model's grid (timm's resampler)."""
    if model.spec.kind != "image":
        raise WeightLoadError("video position tables are fixed; a checkpoint for another clip size cannot be used")
    from timm.layers import resample_abs_pos_embed

    grid = model.encoder.grid
    log.info("resampling position embedding %s → grid %s", tuple(pos.shape), grid)
    return resample_abs_pos_embed(pos, list(grid), num_prefix_tokens=model.encoder.num_prefix_tokens)
