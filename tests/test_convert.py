"""Foreign checkpoints load into our models and reproduce the source model's outputs."""

import pytest
import torch

from deepfake_ssat.masking import Mask
from deepfake_ssat.models import create_model
from deepfake_ssat.models.convert import WeightLoadError, load_weights

transformers = pytest.importorskip("transformers")

TINY = dict(image_size=32, patch_size=16, num_channels=3, num_frames=4, tubelet_size=2, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, num_labels=2,
            decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
            decoder_intermediate_size=64)


def _randomise(module: torch.nn.Module) -> None:
    # Default inits leave biases at zero and norms at identity, which would hide mapping mistakes.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_hf_videomae_classifier_gives_same_logits():
    cfg = transformers.VideoMAEConfig(use_mean_pooling=True, **TINY)
    hf = transformers.VideoMAEForVideoClassification(cfg).eval()
    _randomise(hf)
    ours = create_model("test_videomae", mode="scratch", num_classes=2).eval()
    report = load_weights(ours, hf.state_dict())
    assert report.source_format == "hf-videomae" and not report.missing and not report.unexpected
    x = torch.randn(2, 3, 4, 32, 32)  # ours: (B, C, T, H, W); Hugging Face: (B, T, C, H, W)
    with torch.no_grad():
        expected = hf(pixel_values=x.permute(0, 2, 1, 3, 4)).logits
        got = ours(x)["logits"]
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_hf_videomae_pretraining_decoder_gives_same_reconstruction():
    cfg = transformers.VideoMAEConfig(use_mean_pooling=False, norm_pix_loss=True, **TINY)
    hf = transformers.VideoMAEForPreTraining(cfg).eval()
    _randomise(hf)
    ours = create_model("test_videomae", mode="pretrain").eval()
    report = load_weights(ours, hf.state_dict())
    assert not report.missing, report
    x = torch.randn(2, 3, 4, 32, 32)
    mask = ours.sample_mask(2)
    with torch.no_grad():
        expected = hf(pixel_values=x.permute(0, 2, 1, 3, 4), bool_masked_pos=mask.as_bool()).logits
        latent = ours.encoder.forward_features(x, mask.keep)
        got = ours.decoder(latent, mask.keep, mask.masked)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def _official_finetune_layout(model) -> dict[str, torch.Tensor]:
    """Our weights written the way official VideoMAE fine-tune checkpoints store them."""
    sd = {}
    for k, v in model.state_dict().items():
        k = k.removeprefix("encoder.")
        if k == "pos_embed":
            continue  # official checkpoints do not store the fixed table
        if k.endswith("attn.qkv.bias"):
            q, _, vb = v.chunk(3)
            sd[k.replace("qkv.bias", "q_bias")] = q
            sd[k.replace("qkv.bias", "v_bias")] = vb
            continue
        sd[k] = v
    return {"module": sd}


def test_official_videomae_finetune_layout_gives_same_logits(tmp_path):
    src = create_model("test_videomae", mode="scratch", num_classes=2).eval()
    # Official checkpoints have no k bias: make ours zero there so the round trip is exact.
    with torch.no_grad():
        for blk in src.encoder.blocks:
            d = blk.attn.qkv.bias.shape[0] // 3
            blk.attn.qkv.bias[d:2 * d] = 0
            blk.attn.qkv.bias[:d].normal_()
            blk.attn.qkv.bias[2 * d:].normal_()
        src.encoder.head.weight.normal_()
    path = tmp_path / "videomae_official.pth"
    torch.save(_official_finetune_layout(src), path)
    dst = create_model("test_videomae", mode="scratch", num_classes=2).eval()
    report = load_weights(dst, path)
    assert report.source_format == "official-videomae" and not report.missing and not report.unexpected
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(dst(x)["logits"], src(x)["logits"], atol=1e-5)


def test_official_pretrain_layout_maps_decoder(tmp_path):
    src = create_model("test_videomae", mode="pretrain")
    sd = {}
    for k, v in src.state_dict().items():
        if k.endswith("pos_embed"):
            continue
        if k.startswith("decoder.embed."):
            if k.endswith("weight"):
                sd["encoder_to_decoder.weight"] = v  # official: no bias
            continue
        k = k.replace("decoder.input_norm.", "encoder.norm.").replace("decoder.mask_token", "mask_token")
        if k.endswith("attn.qkv.bias"):
            q, _, vb = v.chunk(3)
            sd[k.replace("qkv.bias", "q_bias")], sd[k.replace("qkv.bias", "v_bias")] = q, vb
            continue
        sd[k] = v
    dst = create_model("test_videomae", mode="ssat", num_classes=2)
    report = load_weights(dst, {"model": sd})
    assert report.source_format == "official-videomae"
    assert report.missing == ["encoder.fc_norm.weight", "encoder.fc_norm.bias", "encoder.head.weight",
                              "encoder.head.bias"]
    assert torch.equal(dst.decoder.mask_token, src.decoder.mask_token)
    assert torch.equal(dst.decoder.blocks[0].attn.proj.weight, src.decoder.blocks[0].attn.proj.weight)


def test_timm_vit_gives_same_logits():
    from timm.models.vision_transformer import VisionTransformer

    timm_vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5).eval()
    _randomise(timm_vit)
    ours = create_model("test_vit", mode="scratch", num_classes=5).eval()
    report = load_weights(ours, timm_vit.state_dict())
    assert report.source_format == "timm" and not report.missing and not report.unexpected
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x)["logits"], timm_vit(x), atol=1e-5)


def test_new_class_count_reinitialises_only_the_head():
    src = create_model("test_vit", mode="scratch", num_classes=10)
    dst = create_model("test_vit", mode="scratch", num_classes=2)
    report = load_weights(dst, src.state_dict())
    assert report.reinitialised == ["encoder.head.weight", "encoder.head.bias"]


def test_checkpoint_of_another_architecture_is_refused():
    src = create_model("test_vit", mode="scratch", num_classes=2)
    dst = create_model("test_vit", mode="scratch", num_classes=2, patch_size=4)
    with pytest.raises(WeightLoadError, match="different architecture"):
        load_weights(dst, src.state_dict())


def test_half_loaded_model_is_refused():
    sd = create_model("test_vit", mode="scratch").state_dict()
    sd = {k: v for k, v in sd.items() if ".blocks.1." not in k}
    with pytest.raises(WeightLoadError, match="half-loaded"):
        load_weights(create_model("test_vit", mode="scratch"), sd)


def test_pickles_with_code_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": Mask(torch.zeros(1, 1), torch.zeros(1, 1))}, path)
    with pytest.raises(WeightLoadError, match="weights-only"):
        load_weights(create_model("test_vit"), path)


def test_missing_file_message():
    with pytest.raises(FileNotFoundError, match="weights not found"):
        load_weights(create_model("test_vit"), "/nonexistent/ckpt.pth")
