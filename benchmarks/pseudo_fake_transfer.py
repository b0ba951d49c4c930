"""Detectors trained without a real fake, tested zero-shot on fakes they never saw.

Rows (each for every seed, the same model and recipe; only the training data and ``model.mode`` change):
- ``real only + pseudo-fakes``: a folder of real videos, self-blended pseudo-fakes as the only fakes
  (preset ``video/real_only``), SSAT and scratch;
- ``sample's labelled fakes``: the sample generator's FF++-layout tree (its four procedural
  manipulations, labelled), SSAT and scratch.

Columns (zero-shot for every row but where it says "seen"):
- the sample generator's four manipulations (every split, or the test split for the rows trained on it;
  only with ``--sample``);
- the talking heads' whole-face generators (VASA-1, SadTalker, EDTalk, GeneFace: every video) against
  their test-split reals, which no row trains on;
- the talking heads' lip-sync fakes against the test reals and their own originals, and pair by pair:
  how many fakes score above the real video they were made from (identity, background and framing
  cancel there, so only the manipulation and its re-encoding separate the two).

``--real`` may be the talking heads' own folder: the real-only rows then train on its training reals
(``data.methods: [real]``) without the people of any talking-head fake (``data.exclude_identities``),
so the lip-sync originals and every fake's person stay unseen.

Baselines beside them: a detector that learned nothing scores AUC 0.5 everywhere (the real-only rows'
trivial baseline); the ``shortcut`` rows are logistic regressions on per-video recording and crop
statistics (``deepfake_ssat.protocols.shortcuts``), trained on the sample's labelled training videos and
tested exactly like the sample-trained rows (no seeds: they are deterministic).

Every run is an ordinary run folder under ``--out``; a rerun reads finished runs and evaluations back.

    python benchmarks/pseudo_fake_transfer.py --real runs/real_only_faces --sample runs/sample_ffpp_faces \\
        --talking-heads runs/th_faces --seeds 0 1 2 --out runs/pseudo_transfer
    python benchmarks/pseudo_fake_transfer.py --real runs/th_faces --talking-heads runs/th_faces \\
        --rows "real only + pseudo-fakes, ssat" "real only + pseudo-fakes, scratch" --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

from deepfake_ssat.config import load_config
from deepfake_ssat.tables import markdown_table
from deepfake_ssat.train import evaluate_checkpoint, train
from preprocessing.datasets import FFPP_METHODS

SPLITS = ("train", "val", "test")
WHOLE_FACE = ("vasa1", "sadtalker", "edtalk", "geneface")  # generated from a photo: no real source video
LIPSYNC = ("wav2lip", "wav2lip_gfpgan", "retalking", "sadtalker_vls", "ip_lap", "latentsync")
ROWS = {  # label → (what it trains on, mode)
    "real only + pseudo-fakes, ssat": ("real", "ssat"),
    "real only + pseudo-fakes, scratch": ("real", "scratch"),
    "sample's labelled fakes, ssat": ("sample", "ssat"),
    "sample's labelled fakes, scratch": ("sample", "scratch"),
}


def run_dir(out: Path, label: str, seed: int) -> Path:
    return out / label.replace(" ", "_").replace(",", "").replace("'", "").replace("+", "and") / f"s{seed}"


def train_row(label: str, seed: int, args) -> Path:
    data, mode = ROWS[label]
    folder = run_dir(Path(args.out), label, seed)
    if (folder / "summary.json").is_file():
        return folder / "best.pt"
    overrides = [f"model.mode={mode}", f"train.seed={seed}", f"train.output_dir={folder}", *args.set]
    if data == "real":
        people = "[" + ", ".join(fake_people(args.talking_heads)) + "]"
        cfg = load_config("video/real_only", overrides=[f"data.root={args.real}", "data.methods=[real]",
                                                         f"data.exclude_identities={people}", *overrides])
    else:  # the same recipe on the sample's labelled fakes, no pseudo-fakes
        cfg = load_config("video/real_only", overrides=[f"data.root={args.sample}", "data.dataset=ffpp",
                                                         "data.pseudo_fakes.kind=none", *overrides])
    train(cfg, resume=folder if (folder / "last.pt").is_file() else None)
    return folder / "best.pt"


def fake_people(root: str | Path) -> list[str]:
    """Identities of every fake of a preprocessed dataset: none of them may be trained on as a real."""
    from deepfake_ssat.protocols.protocol import manifest_rows

    return sorted({r["identity"] for r in manifest_rows(root) if r["label"] == 1})


def _lipsync_selection(args):
    """The lip-sync fakes, the test reals and the lip-sync fakes' own people's reals (their originals)."""
    from deepfake_ssat.data.video import Pick
    from deepfake_ssat.protocols.protocol import manifest_rows

    people = {r["identity"] for r in manifest_rows(args.talking_heads) if r["method"] in args.lipsync}
    return Pick({"real": ("test",), **{m: SPLITS for m in args.lipsync}}, {"real": people})


def evaluations(ckpt: Path, trained_on_sample: bool, args) -> dict[str, dict]:
    """Zero-shot (and, for the sample rows, seen-method) metrics, cached next to the checkpoint."""
    cache = ckpt.parent / "transfer.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    out = {}
    if args.sample:
        sample_splits = ("test",) if trained_on_sample else SPLITS
        sel = {"real": sample_splits, **{m: sample_splits for m in FFPP_METHODS}}
        sample = evaluate_checkpoint(ckpt, split=sel, device="cpu",
                                     overrides={"data": {"dataset": "ffpp", "root": str(args.sample), "methods": None,
                                                         "pseudo_fakes": {"kind": "none"}}})
        out["sample: all four"] = sample["overall"]
        out.update({f"sample: {m}": v for m, v in sample["per_method"].items()})
    heads = {"data": {"dataset": "folder", "root": str(args.talking_heads), "methods": None,
                      "exclude_identities": None, "pseudo_fakes": {"kind": "none"}}}
    th = evaluate_checkpoint(ckpt, split={"real": ("test",), **{m: SPLITS for m in WHOLE_FACE}}, device="cpu",
                             overrides=heads)
    out["talking heads: whole-face"] = th["overall"]
    out.update({f"talking heads: {m}": v for m, v in th["per_method"].items()})
    lip = evaluate_checkpoint(ckpt, split=_lipsync_selection(args), device="cpu", overrides=heads)
    out["lip-sync"] = lip["overall"]
    if lip.get("pairs"):
        out["lip-sync pairs"] = {"fake_above_original": lip["pairs"]["fake_above_original"], "n": lip["pairs"]["n"]}
    cache.write_text(json.dumps(out, indent=2))
    return out


def shortcut_evaluations(args) -> dict[str, dict[str, dict]]:
    """Each feature set of the shortcut baselines, fitted on the sample's training videos, scored on the same
    test sets as the sample-trained rows."""
    from deepfake_ssat.protocols.protocol import manifest_rows
    from deepfake_ssat.protocols.shortcuts import (
        FEATURE_SETS,
        fit_shortcut,
        score_shortcut,
        select_videos,
        shortcut_pairs,
        video_features,
    )

    sample = video_features(args.sample, manifest_rows(args.sample))
    heads = video_features(args.talking_heads, manifest_rows(args.talking_heads))
    train_videos = select_videos(sample, {m: ("train",) for m in ("real", *FFPP_METHODS)})
    tests = {"sample: all four": select_videos(sample, {m: ("test",) for m in ("real", *FFPP_METHODS)}),
             **{f"sample: {m}": select_videos(sample, {"real": ("test",), m: ("test",)}) for m in FFPP_METHODS},
             "talking heads: whole-face": select_videos(heads, {"real": ("test",), **{m: SPLITS for m in WHOLE_FACE}}),
             **{f"talking heads: {m}": select_videos(heads, {"real": ("test",), m: SPLITS}) for m in WHOLE_FACE},
             "lip-sync": select_videos(heads, _lipsync_selection(args))}
    out = {}
    for label, names in FEATURE_SETS.items():
        clf = fit_shortcut(train_videos, names, "the sample's training videos")
        row = {key: metrics for key, videos in tests.items() if (metrics := score_shortcut(clf, names, videos))}
        if pairs := shortcut_pairs(clf, names, tests["lip-sync"]):
            row["lip-sync pairs"] = {"fake_above_original": pairs["fake_above_original"], "n": pairs["n"]}
        out[f"{label}, fitted on the sample's labelled fakes"] = row
    return out


def _cell(runs: list[dict], key: str) -> str:
    if runs and "fake_above_original" in runs[0]:  # the pairs column: k/n per seed
        return ", ".join(f"{r['fake_above_original']}/{r['n']}" for r in runs)
    vals = [r[key] for r in runs if key in r and r[key] == r[key]]
    if not vals:
        return "–"
    return f"{statistics.mean(vals):.3f}" + (f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", required=True, help="preprocessed folder of real videos (with landmarks)")
    p.add_argument("--sample", help="preprocessed sample FF++ tree (its rows and columns are left out without it)")
    p.add_argument("--talking-heads", required=True, help="preprocessed talking heads (folder with methods)")
    p.add_argument("--lipsync", nargs="+", default=list(LIPSYNC), metavar="METHOD",
                   help="the talking heads' lip-sync methods (fakes made from a real video)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", choices=list(ROWS), help="default: every row the data allows")
    p.add_argument("--out", default="runs/pseudo_transfer")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    args = p.parse_args(argv)
    rows = args.rows or [label for label, (data, _) in ROWS.items() if args.sample or data == "real"]
    if not args.sample and any(ROWS[label][0] == "sample" for label in rows):
        p.error("the sample rows need --sample")
    args.rows = rows
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results: dict[str, list[dict]] = {}
    for label in args.rows:
        for seed in args.seeds:
            ckpt = train_row(label, seed, args)
            results.setdefault(label, []).append(evaluations(ckpt, ROWS[label][0] == "sample", args))
    if args.sample:
        results.update({label: [metrics] for label, metrics in shortcut_evaluations(args).items()})
    keys = [*(["sample: all four", *(f"sample: {m}" for m in FFPP_METHODS)] if args.sample else []),
            "talking heads: whole-face", *(f"talking heads: {m}" for m in WHOLE_FACE), "lip-sync"]

    def table(metric: str, name: str) -> str:
        header = ("training data, mode", "seeds", *(f"{k} {name}" for k in keys), "lip-sync: fake > its original")
        return markdown_table(header, [
            (label, len(runs), *(_cell([r.get(k, {}) for r in runs], metric) for k in keys),
             _cell([r["lip-sync pairs"] for r in runs if "lip-sync pairs" in r], "n") if any(
                 "lip-sync pairs" in r for r in runs) else "–")
            for label, runs in results.items()])

    text = table("auc", "AUC") + "\n\nAccuracy at 0.5:\n\n" + table("acc", "acc")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
