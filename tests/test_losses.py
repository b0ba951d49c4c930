import pytest
import torch
import torch.nn.functional as F

from deepfake_ssat.losses import classification_loss, reconstruction_target
from deepfake_ssat.models import create_model


def test_weighted_cross_entropy_matches_direct_formula():
    logits = torch.randn(6, 2)
    y = torch.tensor([0, 1, 1, 1, 0, 1])
    w = torch.tensor([4.5, 1.0])  # weight w on the real class
    logp = logits.log_softmax(1)
    direct = -(w[y] * logp[torch.arange(6), y]).sum() / w[y].sum()
    assert torch.allclose(classification_loss(logits, y, w), direct, atol=1e-6)


def test_soft_targets_and_label_smoothing():
    logits = torch.randn(4, 3)
    soft = torch.softmax(torch.randn(4, 3), 1)
    direct = -(soft * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(classification_loss(logits, soft), direct, atol=1e-6)
    y = torch.tensor([0, 2, 1, 1])
    assert torch.allclose(classification_loss(logits, y, label_smoothing=0.1),
                          F.cross_entropy(logits, y, label_smoothing=0.1))


def test_videomae_target_normalisation_equals_direct_per_tubelet_computation():
    model = create_model("test_videomae", mode="ssat")
    x = torch.rand(2, 3, 4, 32, 32)
    target = reconstruction_target(model.encoder.patchify(x), "per_channel")  # (B, L, 2·16·16·3)
    assert target.shape == (2, 2 * 2 * 2, 2 * 16 * 16 * 3)
    # Token 5 = time slot 1, row 0, column 1 → frames 2-3, rows 0-15, columns 16-31.
    tube = x[1, :, 2:4, 0:16, 16:32]  # (C, 2, 16, 16)
    flat = tube.reshape(3, -1)  # per channel, 512 pixels
    norm = (flat - flat.mean(1, keepdim=True)) / (flat.var(1, unbiased=True, keepdim=True).sqrt() + 1e-6)
    expected = norm.reshape(3, 2, 16, 16).permute(1, 2, 3, 0).reshape(-1)  # (p0 p1 p2 c)
    assert torch.allclose(target[1, 5], expected, atol=1e-5)


def test_image_norm_pix_target_equals_direct_per_patch_computation():
    model = create_model("test_vit", mode="ssat")
    x = torch.rand(1, 3, 32, 32)
    target = reconstruction_target(model.encoder.patchify(x), "norm_pix")
    patch = x[0, :, 8:16, 0:8].permute(1, 2, 0).reshape(-1)  # row 1, column 0 → token 4; (p q c)
    expected = (patch - patch.mean()) / (patch.var() + 1e-6).sqrt()
    assert torch.allclose(target[0, 4], expected, atol=1e-5)
    raw = reconstruction_target(model.encoder.patchify(x), "none")
    assert torch.allclose(raw[0, 4], patch)


def test_input_target_is_the_normalised_input_and_none_the_real_pixels():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pixels = torch.rand(2, 3, 32, 32)
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    for norm, expected in (("input", x), ("none", pixels)):
        model = create_model("test_vit", mode="ssat", target_norm=norm, mean=mean, std=std)
        mask = model.sample_mask(2)
        _, target, _ = model.reconstruct(x, mask)
        assert torch.allclose(target, model.encoder.patchify(expected).flatten(2), atol=1e-5), norm


def test_ssat_total_is_lambda_weighted_sum_of_direct_terms():
    torch.manual_seed(0)
    model = create_model("test_videomae", mode="ssat", lambda_cls=0.1, class_weights=[3.0, 1.0]).train()
    x = torch.randn(3, 3, 4, 32, 32)
    y = torch.tensor([0, 1, 1])
    mask = model.sample_mask(3)
    out = model(x, y, mask=mask)
    ce = F.cross_entropy(out["logits"], y, weight=torch.tensor([3.0, 1.0]))
    pred, target, ids = model.reconstruct(x, mask)
    picked = torch.stack([target[i, ids[i]] for i in range(3)])
    rec = ((pred - picked) ** 2).mean()
    # The model's own reconstruct() call and ours see the same mask, so the terms must agree.
    assert torch.allclose(out["loss_cls"], ce, atol=1e-6)
    assert torch.allclose(out["loss_rec"], rec, atol=1e-5)
    assert torch.allclose(out["loss"], 0.1 * ce + 0.9 * rec, atol=1e-5)


def test_gradient_share_parts_add_up_to_the_ssat_gradient():
    from deepfake_ssat.diagnostics import encoder_parameters, gradient_share

    torch.manual_seed(0)
    model = create_model("test_vit", mode="ssat", lambda_cls=0.3, num_classes=4)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    (row,) = gradient_share(model, [(x, y)], targets=("norm_pix",), seed=7)
    # The same batch, mask and drop-path draws through the model's own SSAT loss.
    gen = torch.Generator().manual_seed(7)
    mask = model.sample_mask(4, gen)
    torch.manual_seed(7)
    model.zero_grad()
    model(x, y, mask=mask, generator=gen)["loss"].backward()
    total = torch.cat([p.grad.flatten() for p in encoder_parameters(model)]).norm().item()
    a, r, cos = row["grad_cls"], row["grad_rec"], row["cosine"]
    assert total == pytest.approx((a * a + r * r + 2 * a * r * cos) ** 0.5, rel=1e-4)  # ‖g_cls + g_rec‖
    assert row["rec_over_cls"] == pytest.approx(r / a)
    assert model.target_norm == "norm_pix" and all(p.grad is not None for p in encoder_parameters(model))


@pytest.mark.parametrize("norm", ["none", "input", "norm_pix", "per_channel"])
def test_target_to_pixels_inverts_every_target(norm):
    """A perfect prediction of any target shows as the true pixels (the reconstruction view's inverse)."""
    from deepfake_ssat.losses import target_to_pixels

    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pixels = torch.rand(2, 5, 16, 3)  # (B, tokens, pixels per token, channels)
    given = (pixels - torch.tensor(mean)) / torch.tensor(std) if norm == "input" else pixels
    target = reconstruction_target(given, norm)  # what the decoder is trained to output
    assert torch.allclose(target_to_pixels(target, pixels, norm, mean, std), pixels, atol=1e-4)


def test_occlusion_map_finds_the_only_square_the_model_reads():
    """A classifier that reads one square of the input: hiding that square, and only it, changes its score."""
    from deepfake_ssat.diagnostics import occlusion_map

    model = create_model("test_videomae", mode="scratch").eval()  # 4 × 32², patch 16: a 2 × 2 grid

    class OneSquare(torch.nn.Module):
        def forward(self, x):  # logit of "fake" = mean of the top-right square
            return x[:, :, :, :16, 16:].mean(dim=(1, 2, 3, 4))[:, None] * torch.tensor([[-1.0, 1.0]])

    model.encoder = OneSquare()
    x = torch.ones(1, 3, 4, 32, 32)
    prob, drops = occlusion_map(model, x, patch=16)
    assert prob == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())
    assert drops.shape == (2, 2) and drops[0, 1] > 0.3
    assert torch.allclose(drops.flatten()[[0, 2, 3]], torch.zeros(3))
