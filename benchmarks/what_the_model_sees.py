"""What a checkpoint looks at, for a few videos: one figure, a row per video.

Per video: a frame of its most fake segment, the occlusion map over that segment (how much the fake
probability drops when a square is hidden in every frame; red = the model's evidence for "fake"),
and the fake probability of every segment over time with the decision threshold.

    python benchmarks/what_the_model_sees.py --checkpoint runs/th_loo/ssat/sadtalker/s0/best.pt \\
        --videos a.mp4 b.mp4 --out docs/figures/what_the_model_sees.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from deepfake_ssat.data.video import clip_to_tensor
from deepfake_ssat.diagnostics import occlusion_map
from deepfake_ssat.inference import Predictor


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--videos", nargs="+", required=True)
    p.add_argument("--labels", nargs="+", help="a caption per video (default: its file name)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
    model = predictor.model
    patch = model.spec.patch_size
    shape = (3, 1, 1, 1)
    mean, std = torch.tensor(predictor.mean).view(shape), torch.tensor(predictor.std).view(shape)
    labels = args.labels or [Path(v).name for v in args.videos]
    fig, axes = plt.subplots(len(args.videos), 3, figsize=(10, 2.7 * len(args.videos)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 2.2]}, layout="constrained")
    for row, (video, label) in enumerate(zip(args.videos, labels, strict=True)):
        pred = predictor.predict(video)
        ax_frame, ax_map, ax_time = axes[row]
        if pred.clip is None:
            ax_frame.set_title(f"{label}: no face")
            continue
        x = clip_to_tensor(pred.clip, predictor.size, mean, std, predictor.lowpass_sigma)[None]
        prob, drops = occlusion_map(model, x, patch, predictor.fake_index)
        frame = pred.clip[len(pred.clip) // 2]
        ax_frame.imshow(frame)
        ax_frame.set_title(f"{label}\nvideo score {pred.score:.2f} ({pred.verdict})", fontsize=9)
        ax_map.imshow(frame, alpha=0.55)
        lim = max(float(drops.abs().max()), 1e-3)
        side = predictor.size
        ax_map.imshow(drops.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6, extent=(0, side, side, 0),
                      interpolation="nearest")
        ax_map.set_title(f"occlusion: segment p={prob:.2f}\nred = hiding it lowers p (max {lim:.2f})", fontsize=9)
        for ax in (ax_frame, ax_map):
            ax.set_xticks([])
            ax.set_yticks([])
        for k in sorted({s.track for s in pred.segments}):
            segs = [s for s in pred.segments if s.track == k]
            ax_time.step([s.start_s for s in segs] + [segs[-1].end_s], [s.fake_prob for s in segs]
                         + [segs[-1].fake_prob], where="post", label=f"face {k}")
        ax_time.axhline(pred.threshold, color="grey", ls="--", lw=0.8, label="threshold")
        ax_time.set_ylim(0, 1)
        ax_time.set_xlim(0, pred.duration_s)
        ax_time.set_xlabel("seconds")
        ax_time.set_ylabel("fake probability")
        ax_time.legend(fontsize="x-small", loc="upper right")
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
