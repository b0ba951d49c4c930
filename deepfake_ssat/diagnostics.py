"""How the SSAT loss shares the encoder between its two tasks.

In L = λ·L_cls + (1 − λ)·L_rec both terms pull on the same encoder weights. Whether the auxiliary
task helps or crowds out the classifier depends on how large and how aligned their gradients are
there, and that depends on λ *and* on the scale of the reconstruction target (``none`` pixels in
[0, 1], the normalised ``input``, per-patch ``norm_pix``). ``gradient_share`` measures it on real
batches, for several targets on the same weights, batches and masks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from .losses import classification_loss, reconstruction_loss
from .models import SSATModel
from .tables import markdown_table


def encoder_parameters(model: SSATModel) -> list[torch.nn.Parameter]:
    """The weights both tasks share: the encoder without its classifier-only head (and pooled-feature norm)."""
    own = {id(p) for m in (model.encoder.head, model.encoder.fc_norm) for p in m.parameters()}
    return [p for p in model.encoder.parameters() if p.requires_grad and id(p) not in own]


def _flat_grad(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, params, strict=True)])


def gradient_share(model: SSATModel, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                   targets: Sequence[str] = ("none", "input", "norm_pix"), seed: int = 0) -> list[dict[str, float]]:
    """Per reconstruction target: mean over batches of ‖∇ λ·L_cls‖, ‖∇ (1 − λ)·L_rec‖, their ratio and
    cosine on the shared encoder weights, and the mean L_cls and L_rec. The model is left in train mode
    with its original target."""
    if model.decoder is None:
        raise ValueError("gradient_share needs a model with a decoder (mode 'ssat' or 'pretrain')")
    lam = model.lambda_cls
    params = encoder_parameters(model)
    original = model.target_norm
    sums = {t: torch.zeros(6, dtype=torch.float64) for t in targets}
    n = 0
    model.train()
    try:
        for b, (x, y) in enumerate(batches):
            n += 1
            gen = torch.Generator(device=x.device).manual_seed(seed + b)
            mask = model.sample_mask(x.shape[0], gen)
            torch.manual_seed(seed + b)
            # The classifier's term does not depend on the target: one pass per batch.
            l_cls = classification_loss(model.encoder(x), y, model.class_weights, model.label_smoothing)
            g_cls = _flat_grad(lam * l_cls, params)
            a = g_cls.norm().item()
            gen_state = gen.get_state()
            for target in targets:
                # Each target's pass starts from the same RNG state (drop path, decoder subsampling).
                with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
                    gen.set_state(gen_state)
                    model.target_norm = target
                    pred, tgt, ids = model.reconstruct(x, mask, gen)
                    l_rec = reconstruction_loss(pred, tgt, ids)
                g_rec = _flat_grad((1.0 - lam) * l_rec, params)
                r = g_rec.norm().item()
                cos = torch.nn.functional.cosine_similarity(g_cls, g_rec, dim=0).item()
                sums[target] += torch.tensor([a, r, r / max(a, 1e-12), cos, l_cls.item(), l_rec.item()],
                                             dtype=torch.float64)
    finally:
        model.target_norm = original
    if n == 0:
        raise ValueError("no batches")
    keys = ("grad_cls", "grad_rec", "rec_over_cls", "cosine", "loss_cls", "loss_rec")
    return [{"target": t, **{k: v / n for k, v in zip(keys, sums[t].tolist(), strict=True)}} for t in targets]


def share_table(rows: list[dict[str, float]], lam: float) -> str:
    """The ``gradient_share`` rows as a Markdown table."""
    header = ("target", f"‖∇ {lam:g}·L_cls‖", f"‖∇ {1 - lam:g}·L_rec‖", "rec / cls", "cosine", "L_cls", "L_rec")
    return markdown_table(header, [(f"`{r['target']}`", f"{r['grad_cls']:.4f}", f"{r['grad_rec']:.4f}",
                                    f"{r['rec_over_cls']:.2f}", f"{r['cosine']:+.3f}", f"{r['loss_cls']:.3f}",
                                    f"{r['loss_rec']:.3f}") for r in rows])


@torch.no_grad()
def occlusion_map(model: SSATModel, x: torch.Tensor, patch: int, fake_index: int = 1,
                  batch_size: int = 16) -> tuple[float, torch.Tensor]:
    """What the classifier looks at in one clip: the drop in fake probability when a ``patch`` × ``patch``
    square is set to the mean colour (0 after normalisation) in every frame, for each square of a grid.

    x: (1, C, T, H, W) normalised input. Returns (fake probability of the clip, (H/patch, W/patch) map of
    probability drops: positive where hiding the square makes the clip look less fake).
    """
    model.eval()
    _, _, _, h, w = x.shape
    gh, gw = h // patch, w // patch
    base = model(x)["logits"].float().softmax(1)[0, fake_index].item()
    drops = torch.empty(gh * gw)
    for start in range(0, gh * gw, batch_size):
        cells = range(start, min(start + batch_size, gh * gw))
        batch = x.repeat(len(cells), 1, 1, 1, 1)
        for b, k in enumerate(cells):
            i, j = divmod(k, gw)
            batch[b, :, :, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = 0.0
        probs = model(batch)["logits"].float().softmax(1)[:, fake_index]
        drops[start:start + len(cells)] = base - probs.cpu()
    return base, drops.view(gh, gw)
