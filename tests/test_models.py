import pytest
import torch

from deepfake_ssat.configschema import ConfigError
from deepfake_ssat.models import MODES, create_model, get_spec, list_models

SMALL = ["test_vit", "test_videomae"]


def _input(name: str, batch: int = 2) -> torch.Tensor:
    spec = get_spec(name)
    if spec.kind == "video":
        return torch.randn(batch, spec.in_chans, spec.num_frames, spec.img_size, spec.img_size)
    return torch.randn(batch, spec.in_chans, spec.img_size, spec.img_size)


# The base-size video model costs ~180 GMACs per clip: too slow for the default CPU run.
_BIG = {"videomae_base", "videomae_small", "vit_base"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _BIG else n for n in list_models()]
)
def test_every_registered_model_forwards_on_its_input_shape(name):
    model = create_model(name, mode="scratch", num_classes=3).eval()
    x = _input(name, batch=1)
    with torch.no_grad():
        out = model(x)
    assert out["logits"].shape == (1, 3)
    assert set(out) == {"logits"}


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("mode", MODES)
def test_every_trainable_parameter_gets_a_gradient(name, mode):
    init = "pretrain.pt" if mode == "finetune" else None  # a finetune config names its weights (not loaded here)
    model = create_model(name, mode=mode, num_classes=2, drop_path=0.1, init=init).train()
    out = model(_input(name, 3), torch.tensor([0, 1, 1]))
    out["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient in {mode}: {no_grad}"
    assert torch.isfinite(out["loss"])


@pytest.mark.parametrize("name", SMALL)
def test_scratch_and_finetune_build_no_decoder_and_pretrain_no_head(name):
    assert create_model(name, mode="scratch").decoder is None
    assert create_model(name, mode="finetune", init="pretrain.pt").decoder is None
    pre = create_model(name, mode="pretrain")
    assert pre.decoder is not None and not isinstance(pre.encoder.head, torch.nn.Linear)
    out = pre(_input(name), torch.tensor([0, 1]))
    assert "logits" not in out and torch.equal(out["loss"], out["loss_rec"])


def test_inference_never_runs_the_decoder():
    model = create_model("test_videomae", mode="ssat").eval()

    def boom(*a, **k):
        raise AssertionError("decoder ran during inference")

    model.decoder.forward = boom
    with torch.no_grad():
        assert model(_input("test_videomae"))["logits"].shape == (2, 2)


@pytest.mark.parametrize(
    "name,low,high",
    [("vit_tiny", 5.4e6, 5.8e6), ("vit_small", 21.4e6, 22.2e6), ("vit_base", 85.5e6, 86.8e6),
     ("videomae_small", 21.5e6, 22.2e6), ("videomae_base", 86.0e6, 87.0e6)],
)
def test_encoder_parameter_counts(name, low, high):
    with torch.device("meta"):  # shapes only, no memory or init time
        model = create_model(name, mode="scratch", num_classes=2)
    n = sum(p.numel() for p in model.encoder.parameters())
    assert low <= n <= high, f"{name}: {n / 1e6:.2f}M"


def test_video_token_grid_and_mask_ratio_0_95():
    spec = get_spec("videomae_base")
    assert (spec.num_frames, spec.img_size, spec.tubelet, spec.patch_size) == (16, 224, 2, 16)
    model = create_model("videomae_base", mode="ssat", mask_ratio=0.95)
    assert model.encoder.grid == (8, 14, 14) and model.encoder.num_patches == 1568
    mask = model.sample_mask(2)
    assert mask.keep.shape == (2, 80)  # 10 visible positions × 8 time slots
    assert model.decoder.head.out_features == 2 * 16 * 16 * 3


def test_masked_forward_sees_only_visible_tokens():
    model = create_model("test_videomae", mode="ssat").eval()
    x = _input("test_videomae", 1)
    mask = model.sample_mask(1)
    feats = model.encoder.forward_features(x, mask.keep)
    assert feats.shape[1] == mask.keep.shape[1]
    # Changing pixels of hidden tubelets must not change the visible-token features.
    hidden = mask.masked[0, 0].item()
    t, hw = divmod(hidden, model.encoder.tokens_per_frame)
    h, w = divmod(hw, model.encoder.grid[2])
    y = x.clone()
    y[:, :, 2 * t:2 * t + 2, 16 * h:16 * h + 16, 16 * w:16 * w + 16] += 5.0
    assert torch.allclose(model.encoder.forward_features(y, mask.keep), feats, atol=1e-5)


def test_reconstruction_pass_can_take_its_own_input():
    model = create_model("test_vit", mode="ssat").eval()
    clean, mixed, y = _input("test_vit"), _input("test_vit"), torch.tensor([0, 1])
    mask = model.sample_mask(2)
    split = model(mixed, y, mask=mask, x_rec=clean)
    assert torch.allclose(split["loss_cls"], model(mixed, y, mask=mask)["loss_cls"])
    assert torch.allclose(split["loss_rec"], model(clean, y, mask=mask)["loss_rec"])
    assert not torch.allclose(split["loss_rec"], model(mixed, y, mask=mask)["loss_rec"])


@pytest.mark.parametrize("name", ["test_vit", "test_videomae"])
def test_passes_sharing_the_patch_embedding_give_the_separate_passes_gradients(name):
    # One clip: both SSAT passes reuse its patch embedding; x_rec (even equal to x) embeds it twice.
    torch.manual_seed(0)
    model = create_model(name, mode="ssat", drop_path=0.0)
    x, y = _input(name), torch.tensor([0, 1])
    mask = model.sample_mask(2)
    grads = []
    for x_rec in (None, x.clone()):
        model.zero_grad()
        out = model(x, y, mask=mask, x_rec=x_rec)
        out["loss"].backward()
        grads.append((out["loss"].detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (shared, g_shared), (separate, g_separate) = grads
    assert torch.allclose(shared, separate, atol=1e-6)
    for n, g in g_shared.items():
        assert torch.allclose(g, g_separate[n], atol=1e-6), n


@pytest.mark.slow
def test_compiled_model_gives_the_eager_losses_and_gradients():
    # train.compile compiles the module in place: same names, same numbers as eager.
    torch.manual_seed(0)
    eager = create_model("test_videomae", mode="ssat", drop_path=0.0)
    compiled = create_model("test_videomae", mode="ssat", drop_path=0.0)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    x, y = _input("test_videomae"), torch.tensor([0, 1])
    mask = eager.sample_mask(2)
    outs = []
    for model in (eager, compiled):
        out = model(x, y, mask=mask)
        out["loss"].backward()
        outs.append((out, {n: p.grad for n, p in model.named_parameters()}))
    (a, ga), (b, gb) = outs
    for k in ("logits", "loss", "loss_cls", "loss_rec"):
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    for n, g in ga.items():
        assert torch.allclose(g, gb[n], atol=1e-5), n
    with torch.no_grad():
        assert torch.allclose(eager.eval()(x)["logits"], compiled.eval()(x)["logits"], atol=1e-5)


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    a = create_model("test_vit", mode="ssat", drop_path=0.0)
    b = create_model("test_vit", mode="ssat", drop_path=0.0, grad_checkpointing=True)
    b.load_state_dict(a.state_dict())
    x, y = _input("test_vit"), torch.tensor([0, 1])
    mask = a.sample_mask(2)
    a(x, y, mask=mask)["loss"].backward()
    b(x, y, mask=mask)["loss"].backward()
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6), n


def test_attention_uses_sdpa():
    model = create_model("test_vit", mode="scratch")
    assert all(blk.attn.fused_attn for blk in model.encoder.blocks)


def test_bad_options_are_rejected_with_names():
    """create_model checks its options as the config does: the same messages, naming the key."""
    with pytest.raises(ConfigError, match="model.name: unknown model 'vit_huge'"):
        create_model("vit_huge")
    with pytest.raises(ConfigError, match="unknown config key 'model.mask_ratoi' \\(did you mean 'model.mask_ratio'"):
        create_model("test_vit", mask_ratoi=0.5)
    with pytest.raises(ConfigError, match="unknown config key 'model.tubelet'"):  # not a model option
        create_model("test_vit", tubelet=2)
    with pytest.raises(ConfigError, match=r"model.mask_ratio: must be in \(0, 1\), got 1.0"):
        create_model("test_vit", mask_ratio=1.0)
    with pytest.raises(ConfigError, match="model.lambda_cls"):
        create_model("test_vit", lambda_cls=1.5)
    with pytest.raises(ValueError, match="tile"):
        create_model("test_videomae", num_frames=5)


def test_mask_ratio_is_declared_and_checked_in_one_place(tmp_path, capsys):
    """`--mask` crosses CLI → config → model → masking with the config's check alone: the flag is the
    config key, a bad value stops before any model exists, and the model and the masks read the value
    the config holds."""
    from deepfake_ssat.cli import main
    from deepfake_ssat.config import load_config

    assert main(["train", "--dataset", "cifar10", "--mask", "1.2", "--output", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: model.mask_ratio: must be in (0, 1), got 1.2"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    cfg = load_config(overrides=["model.name=test_videomae", ("model.mask_ratio", "0.9")])
    model = create_model(cfg.model)
    mask = model.sample_mask(2)
    per_slot = model.encoder.num_patches // model.encoder.grid[0]
    assert model.mask_ratio == cfg.model.mask_ratio == 0.9
    assert mask.masked.shape[1] == model.encoder.grid[0] * int(0.9 * per_slot)
