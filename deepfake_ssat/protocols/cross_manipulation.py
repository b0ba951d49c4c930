"""FF++ cross-manipulation (leave one method out) and zero-shot transfer — the paper's Table 8.

For each configuration and each held-out method M of Deepfakes, Face2Face, FaceSwap and
NeuralTextures: fine-tune (from ``--init`` unless the configuration names its own weights) on the
other three methods + real videos (train split; val split selects the checkpoint), then test on
M's test fakes + the test reals. Zero-shot: evaluate a DFDC-trained checkpoint on each method's
test fakes + test reals without training. Every fold writes ``result.json`` when it finishes, so a
rerun skips finished folds.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preprocessing.datasets import FFPP_METHODS as METHODS
from preprocessing.files import write_json_atomic, write_text_atomic

from ..config import Config, load_config
from ..configschema import to_dict
from ..tables import markdown_table

log = logging.getLogger(__name__)

SHORT = {"Deepfakes": "DF", "Face2Face": "F2F", "FaceSwap": "FS", "NeuralTextures": "NT"}

# Table 8 of Das et al. (WACV 2024), video-level accuracy (%), for reference only.
PAPER_ROWS = {
    "paper: VideoMAE(0.95)+SSAT cross-manipulation": {"Deepfakes": 92.42, "Face2Face": 79.21, "FaceSwap": 89.61,
                                                      "NeuralTextures": 81.36},
    "paper: VideoMAE(0.95)+SSAT zero-shot": {"Deepfakes": 92.42, "Face2Face": 61.65, "FaceSwap": 92.83,
                                             "NeuralTextures": 62.37},
}


class ProtocolError(AssertionError):
    """A fold whose data would break the leave-one-out protocol."""


@dataclass
class Fold:
    label: str  # configuration label (row of the table)
    heldout: str
    cfg: Config
    out_dir: Path

    @property
    def result_path(self) -> Path:
        return self.out_dir / "result.json"


def fold_config(base: Config, ffpp_root: str | Path, heldout: str, init: str | None, out_dir: Path) -> Config:
    """The configuration of one fold: FF++ data of the three other methods + reals."""
    overrides = [
        "data.dataset=ffpp", f"data.root={ffpp_root}", f"train.output_dir={out_dir}",
        "data.methods=[" + ", ".join(["real", *[m for m in METHODS if m != heldout]]) + "]",
        "eval.test_at_end=false",  # the fold is tested on its held-out method only, below
    ]
    if init is not None and base.model.init is None:  # a configuration's own weights (e.g. SSL) win
        overrides.append(f"model.init={init}")
    return load_config(to_dict(base), overrides=overrides)


def check_fold(task, heldout: str) -> None:
    """Guard: the held-out method never enters training or validation, test videos never enter training,
    and selection (validation) never sees a test video."""
    for name, dataset in (("training", task.train_set), ("validation", task.val_set)):
        bad_method = sorted({r["video_id"] for r in dataset.rows if r["method"] == heldout})
        if bad_method:
            raise ProtocolError(f"{heldout} videos in the {name} set of its own fold: {bad_method[:3]}")
        bad_split = sorted({r["video_id"] for r in dataset.rows if r["split"] == "test"})
        if bad_split:
            raise ProtocolError(f"test videos in the {name} set: {bad_split[:3]}")
    train_ids = {r["video_id"] for r in task.train_set.rows}
    val_ids = {r["video_id"] for r in task.val_set.rows}
    if train_ids & val_ids:
        raise ProtocolError(f"videos in both training and validation: {sorted(train_ids & val_ids)[:3]}")


def run_fold(fold: Fold, device: str | None = None) -> dict[str, Any]:
    """Train one fold and test it on the held-out method; writes and returns its result."""
    from ..train import evaluate_checkpoint, train

    cfg = fold.cfg
    if device is not None:
        cfg = load_config(to_dict(cfg), overrides=[f"train.device={device}"])
    log.info("fold %s / held out %s → %s", fold.label, fold.heldout, fold.out_dir)
    summary = train(cfg, task_check=lambda task: check_fold(task, fold.heldout))
    report = evaluate_checkpoint(fold.out_dir / "best.pt", split="test", methods=["real", fold.heldout],
                                 device=cfg.train.device)
    result = {"label": fold.label, "heldout": fold.heldout, "kind": "cross-manipulation",
              "metrics": report["overall"], "unscored": report["unscored"],
              "best_val": {summary["best_metric"]: summary["best_value"], "epoch": summary["best_epoch"]},
              "train_methods": cfg.data.methods}
    write_json_atomic(fold.result_path, result)
    return result


def run_zero_shot(checkpoint: str | Path, ffpp_root: str | Path, out_dir: Path, device: str = "auto"
                  ) -> list[dict[str, Any]]:
    from ..train import evaluate_checkpoint

    results = []
    for m in METHODS:
        path = out_dir / f"zero_shot_{Path(checkpoint).stem}" / m / "result.json"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        report = evaluate_checkpoint(checkpoint, split="test", methods=["real", m], device=device,
                                     overrides={"data": {"dataset": "ffpp", "root": str(ffpp_root), "methods": None}})
        res = {"label": f"zero-shot: {Path(checkpoint).stem}", "heldout": m, "kind": "zero-shot",
               "metrics": report["overall"], "unscored": report["unscored"]}
        write_json_atomic(path, res)
        results.append(res)
    return results


def plan_folds(configs: list[tuple[str, Config]], ffpp_root: str | Path, init: str | None, out_dir: Path,
               methods: tuple[str, ...] = METHODS) -> list[Fold]:
    return [Fold(label, m, fold_config(cfg, ffpp_root, m, init, out_dir / label / m), out_dir / label / m)
            for label, cfg in configs for m in methods]


def _run_fold_process(fold: Fold, device: str | None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_fold(fold, device)


def run_benchmark(configs: list[tuple[str, Config]], ffpp_root: str | Path, out_dir: str | Path,
                  init: str | None = None, zero_shot: list[str] | None = None, devices: list[str] | None = None,
                  methods: tuple[str, ...] = METHODS) -> list[dict[str, Any]]:
    """Run every unfinished fold (in order, or one process per device side by side) and the
    zero-shot evaluations; write the table files; return all results."""
    out_dir = Path(out_dir)
    folds = plan_folds(configs, ffpp_root, init, out_dir, methods)
    done = [f for f in folds if f.result_path.is_file()]
    todo = [f for f in folds if not f.result_path.is_file()]
    if done:
        log.info("resuming: %d of %d folds already finished", len(done), len(folds))
    if devices and len(devices) > 1 and todo:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(devices), mp_context=ctx) as pool:
            futures = [pool.submit(_run_fold_process, f, devices[i % len(devices)]) for i, f in enumerate(todo)]
            for fut in futures:
                fut.result()
    else:
        for f in todo:
            run_fold(f, devices[0] if devices else None)
    results = [json.loads(f.result_path.read_text()) for f in folds]
    for ckpt in zero_shot or []:
        results += run_zero_shot(ckpt, ffpp_root, out_dir, (devices or ["auto"])[0])
    write_tables(results, out_dir)
    return results


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def _rows(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        rows.setdefault(r["label"], {})[r["heldout"]] = r["metrics"]
    return rows


def cross_manipulation_table(results: list[dict[str, Any]], paper: bool = True) -> str:
    """Rows = configurations; per method accuracy (%) with AUC alongside, like Table 8."""
    header = ("configuration", *(f"{SHORT[m]} acc / AUC" for m in METHODS), "mean acc")
    rows = []
    for label, per in _rows(results).items():
        accs = [100 * per[m]["acc"] for m in METHODS if m in per]
        cells = [f"{100 * per[m]['acc']:.2f} / {per[m]['auc']:.3f}" if m in per else "–" for m in METHODS]
        rows.append((label, *cells, f"{sum(accs) / len(accs):.2f}" if accs else "–"))
    if paper:
        for label, per in PAPER_ROWS.items():
            rows.append((f"*{label} (reference, not measured here)*", *(f"*{per[m]:.2f}* / –" for m in METHODS),
                         f"*{sum(per.values()) / len(per):.2f}*"))
    return markdown_table(header, rows)


def write_tables(results: list[dict[str, Any]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "table.md", cross_manipulation_table(results) + "\n")
    write_json_atomic(out_dir / "results.json", {"results": results, "paper_reference": PAPER_ROWS})
    with (out_dir / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["configuration", "kind", "heldout", "acc", "acc_at_threshold", "auc", "log_loss", "eer", "n"])
        for r in results:
            m = r["metrics"]
            w.writerow([r["label"], r["kind"], r["heldout"], m["acc"], m["acc_at_threshold"], m["auc"],
                        m["log_loss"], m["eer"], int(m["n"])])
    bar_chart(results, out_dir / "table.png")
    log.info("wrote %s/table.{md,csv,png} and results.json", out_dir)


def bar_chart(results: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars of accuracy per held-out method, one colour per configuration (Pillow only)."""
    from PIL import Image, ImageDraw

    rows = _rows(results)
    labels = list(rows)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    w, h, left, bottom, top = 900, 420, 60, 60, 30
    img = Image.new("RGB", (w, h + 22 * len(labels)), "white")
    d = ImageDraw.Draw(img)
    plot_h = h - bottom - top
    d.line([(left, top), (left, h - bottom), (w - 20, h - bottom)], fill="black")
    for pct in (0, 25, 50, 75, 100):
        y = h - bottom - plot_h * pct / 100
        d.line([(left - 5, y), (w - 20, y)], fill=(225, 225, 225))
        d.text((left - 40, y - 6), f"{pct}%", fill="black")
    group_w = (w - left - 40) / len(METHODS)
    bar_w = max(4, (group_w - 20) / max(len(labels), 1))
    for gi, m in enumerate(METHODS):
        x0 = left + 10 + gi * group_w
        d.text((x0 + group_w / 2 - 20, h - bottom + 8), SHORT[m], fill="black")
        for li, label in enumerate(labels):
            if m not in rows[label]:
                continue
            acc = 100 * rows[label][m]["acc"]
            x = x0 + li * bar_w
            d.rectangle([x, h - bottom - plot_h * acc / 100, x + bar_w - 2, h - bottom],
                        fill=colours[li % len(colours)])
    d.text((left, 8), "video-level accuracy on the held-out method (test fakes + test reals)", fill="black")
    for li, label in enumerate(labels):
        y = h + 4 + 22 * li
        d.rectangle([left, y, left + 14, y + 14], fill=colours[li % len(colours)])
        d.text((left + 22, y + 1), label, fill="black")
    img.save(path)
    return path


def load_labelled_configs(paths: list[str]) -> list[tuple[str, Config]]:
    """Each YAML (preset name or file) → (its file stem as the row label, config)."""
    from ..config import preset_path

    out = []
    for p in paths:
        label = Path(str(preset_path(p))).stem
        if label in {lab for lab, _ in out}:
            raise ValueError(f"two configurations are both labelled {label!r}; give the files distinct names")
        out.append((label, load_config(p)))
    return out


# ---------------------------------------------------------------------------------------------
# Command line: `deepfake-ssat benchmark cross-manipulation …`
# ---------------------------------------------------------------------------------------------
HELP = "FF++ leave-one-method-out + zero-shot table"
DESCRIPTION = ("Fine-tune on three FF++ methods + reals, test on the fourth, for every method and configuration; "
               "evaluate DFDC checkpoints zero-shot. Reruns resume.")


def add_arguments(parser) -> None:
    parser.add_argument("--ffpp", required=True,
                        help="preprocessed FF++ folder (the --out of `preprocess --dataset ffpp`)")
    parser.add_argument("--init", help="checkpoint every fold starts from (the DFDC-trained model in the paper); "
                                       "omit to train from scratch")
    parser.add_argument("--configs", nargs="+", default=["video/ffpp"], metavar="YAML",
                        help="one table row per configuration (preset name or YAML file; label = file name)")
    parser.add_argument("--zero-shot", nargs="*", default=None, metavar="CKPT",
                        help="checkpoints to evaluate without training (default: --init when given)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="held-out methods to run (default: all four)")
    parser.add_argument("--devices", nargs="+",
                        help="run folds side by side, one process per device (cuda:0 cuda:1 …)")
    parser.add_argument("--out", default="runs/benchmark_ffpp", help="results folder (reruns resume here)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every configuration, e.g. --set train.epochs=10")


def run_from_args(args) -> str:
    """Run the benchmark; returns the Markdown table."""
    configs = [(label, load_config(to_dict(cfg), overrides=args.set))
               for label, cfg in load_labelled_configs(args.configs)]
    zero_shot = args.zero_shot if args.zero_shot is not None else ([args.init] if args.init else [])
    results = run_benchmark(configs, args.ffpp, args.out, init=args.init, zero_shot=zero_shot, devices=args.devices,
                            methods=tuple(args.methods))
    return cross_manipulation_table(results)
