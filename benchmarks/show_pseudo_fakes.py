"""A picture of self-blended pseudo-fakes: for a few real tracks of a preprocessed folder, a real frame,
the same frame as a pseudo-fake, its blend mask, and the difference (×4) at the first and last frame of
one clip (one draw per clip: the same blend, following the face).

    python benchmarks/show_pseudo_fakes.py --data-root runs/real_only_faces --out docs/figures/pseudo_fakes.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from deepfake_ssat.config import PseudoFakeConfig
from deepfake_ssat.data.pseudo_fakes import draw, self_blend
from preprocessing.clips import read_clip, read_landmarks
from preprocessing.manifest import read_manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, help="preprocessed folder with landmarks")
    p.add_argument("--out", required=True)
    p.add_argument("--tracks", type=int, default=4)
    p.add_argument("--frames", type=int, default=16, help="clip length; the first and last frame are shown")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(args.data_root)
    rows = [r for r in read_manifest(root / "manifest.jsonl") if r["status"] == "ok" and r["label"] == 0
            and r["landmarks"] and r["num_frames"] >= args.frames]
    rng = np.random.default_rng(args.seed)
    picked = [rows[i] for i in rng.choice(len(rows), min(args.tracks, len(rows)), replace=False)]
    cfg = PseudoFakeConfig(kind="sbv")
    fig, axes = plt.subplots(len(picked), 6, figsize=(12, 2.2 * len(picked)), squeeze=False, layout="constrained")
    for row, ax in zip(picked, axes, strict=True):
        idx = np.arange(args.frames)
        real = read_clip(root / row["clip"], idx)
        fake, masks = self_blend(real, read_landmarks(root / row["clip"], idx), draw(cfg, rng))
        diff = np.clip(np.abs(fake.astype(int) - real) * 4, 0, 255).astype(np.uint8)
        panels = [(real[0], "real, frame 1"), (fake[0], "pseudo-fake, frame 1"), (masks[0], "mask"),
                  (diff[0], "difference ×4"), (fake[-1], f"pseudo-fake, frame {args.frames}"),
                  (masks[-1], f"mask, frame {args.frames}")]
        for a, (img, title) in zip(ax, panels, strict=True):
            a.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1 if img.ndim == 2 else None)
            a.set_title(title, fontsize=8)
            a.set_xticks([])
            a.set_yticks([])
        ax[0].set_ylabel(row["video_id"].split("/")[-1][:22], fontsize=7)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=60)
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
