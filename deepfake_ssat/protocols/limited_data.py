"""Limited-data comparison on an image dataset: scratch vs SSAT vs SSL pre-training → fine-tuning.

The paper's image claim: training a ViT jointly on classification and masked reconstruction (SSAT)
beats training it for classification alone when labelled data is scarce, and beats pre-training
then fine-tuning. Every row here is the same configuration with only ``model.mode`` (and the seed)
changed, so the rows share the training subset, the recipe and the epoch budget. Each row is an
ordinary run folder: a rerun reads finished rows back and resumes unfinished ones from ``last.pt``.

    deepfake-ssat benchmark limited-data --config image/fashion_mnist_limited --seeds 0 1 2
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

from preprocessing.files import write_json_atomic, write_text_atomic

from ..config import Config, load_config
from ..configschema import to_dict
from ..history import read_history
from ..tables import markdown_table

log = logging.getLogger(__name__)

# A row of the table → the runs it is made of, in order (pre-training feeds fine-tuning).
ROWS: dict[str, tuple[str, ...]] = {
    "scratch": ("scratch",),
    "ssat": ("ssat",),
    "pretrain+finetune": ("pretrain", "finetune"),
}


def run_config(base: Config, mode: str, seed: int, out_dir: Path, init: Path | None = None,
               epochs: int | None = None) -> Config:
    """``base`` with only the mode, seed, run folder (and the fine-tuning init / epochs) changed."""
    d = to_dict(base)
    d["model"].update(mode=mode, init=str(init) if init is not None else None)
    d["train"].update(seed=seed, output_dir=str(out_dir))
    if epochs is not None:
        d["train"]["epochs"] = epochs
    return load_config(d)


def run_or_resume(cfg: Config) -> dict[str, Any]:
    """Train one run unless its folder already holds a finished one; resume a started one."""
    from ..train import train

    out = Path(cfg.train.output_dir)
    if (out / "summary.json").is_file():
        log.info("%s: finished earlier, reading its summary", out)
        return json.loads((out / "summary.json").read_text())
    if (out / "last.pt").is_file():
        log.info("%s: resuming from last.pt", out)
        return train(cfg, resume=out)
    return train(cfg)


def run_row(base: Config, row: str, seed: int, out_dir: Path, pretrain_epochs: int | None = None) -> dict[str, Any]:
    """Run (or read back) one table row for one seed; returns its result record."""
    wall = 0.0
    init = None
    summary: dict[str, Any] = {}
    for mode in ROWS[row]:
        run_dir = out_dir / f"{mode}_s{seed}"
        epochs = pretrain_epochs if mode == "pretrain" else None
        summary = run_or_resume(run_config(base, mode, seed, run_dir, init, epochs))
        wall += summary["wall_time_s"]
        init = run_dir / "best.pt"
    metric = base.eval.metric
    history = read_history(summary["output_dir"])
    evaluated = [h for h in history if "val_loss" in h]
    return {
        "row": row, "seed": seed, "run_dir": summary["output_dir"], "epochs": summary["epochs"],
        "val_best": summary["best_value"], "best_epoch": summary["best_epoch"],
        "val_curve": [(h["epoch"], h[f"val_{metric}"]) for h in history if f"val_{metric}" in h],
        # Last training CE (with label smoothing) against the last validation CE: which side of
        # over/underfitting the row ended on, the regime that decides whether a regulariser can help.
        "train_loss_cls": history[-1]["train_loss_cls"] if history else None,
        "val_loss": evaluated[-1]["val_loss"] if evaluated else None,
        "test_best": summary.get("test_best", {}).get(metric), "test_last": summary.get("test_last", {}).get(metric),
        "wall_time_s": wall,
    }


def run_limited_data(base: Config, out_dir: str | Path, rows: tuple[str, ...] = tuple(ROWS),
                     seeds: tuple[int, ...] = (0,), pretrain_epochs: int | None = None) -> list[dict[str, Any]]:
    """Every (seed, row) in turn; writes ``results.json`` and ``table.md`` after each so a crash loses nothing."""
    from ..tasks import is_image_dataset

    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    if not is_image_dataset(base.data.dataset):
        raise ValueError(f"the limited-data benchmark is for image datasets, not {base.data.dataset!r} "
                         "(for FF++ use `benchmark cross-manipulation`)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "base_config.json", to_dict(base))
    results: list[dict[str, Any]] = []
    for seed in seeds:
        for row in rows:
            log.info("limited-data: %s, seed %d", row, seed)
            results.append(run_row(base, row, seed, out, pretrain_epochs))
            write_json_atomic(out / "results.json", results)
            write_text_atomic(out / "table.md", limited_data_table(results, base.eval.metric) + "\n")
    return results


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return _fmt(values[0]) if values else "–"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def limited_data_table(results: list[dict[str, Any]], metric: str = "top1") -> str:
    """One line per run; with several seeds, a mean ± sample-std line per row as well."""
    header = ("row", "seed", f"val {metric}, best (epoch)", f"test {metric} of best", f"test {metric} of last",
              "train CE / val CE, last", "wall time")
    rows = [(r["row"], r["seed"], f"{_fmt(r['val_best'])} ({r['best_epoch']})", _fmt(r["test_best"]),
             _fmt(r["test_last"]), f"{_fmt(r.get('train_loss_cls'))} / {_fmt(r.get('val_loss'))}",
             f"{r['wall_time_s']:.0f} s") for r in results]
    if len({r["seed"] for r in results}) > 1:
        for row in dict.fromkeys(r["row"] for r in results):
            runs = [r for r in results if r["row"] == row]
            rows.append((f"**{row}**", f"mean of {len(runs)}", _mean_std([r["val_best"] for r in runs]),
                         f"**{_mean_std([r['test_best'] for r in runs if r['test_best'] is not None])}**",
                         _mean_std([r["test_last"] for r in runs if r["test_last"] is not None]), "", ""))
    return markdown_table(header, rows)


# ---------------------------------------------------------------------------------------------
# Command line: `deepfake-ssat benchmark limited-data …`
# ---------------------------------------------------------------------------------------------
HELP = "image classification on a small labelled subset: scratch vs SSAT vs pre-training → fine-tuning"
DESCRIPTION = ("Train every row (the same configuration, only model.mode changed) for each seed and print the test "
               "accuracy table. Reruns resume.")

EXAMPLES = ("deepfake-ssat benchmark limited-data --config image/fashion_mnist_limited --seeds 0 1 2",
            "deepfake-ssat benchmark limited-data --rows scratch ssat --set train.epochs=100 --out runs/limited")


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="append", default=[], metavar="PRESET_OR_YAML",
                        help="preset or YAML the rows share (default image/fashion_mnist_limited; repeatable, "
                             "later ones win)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every row, e.g. --set train.epochs=100")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS),
                        help="rows to run (default: all three)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="one run per row and seed")
    parser.add_argument("--pretrain-epochs", type=int,
                        help="epochs of the pre-training stage of pretrain+finetune (default: train.epochs)")
    parser.add_argument("--out", default="runs/limited_data", help="results folder (reruns resume here)")


def run_from_args(args) -> str:
    """Run the comparison; returns the Markdown table."""
    base = load_config(*(args.config or ["image/fashion_mnist_limited"]), overrides=args.set)
    results = run_limited_data(base, args.out, tuple(args.rows), tuple(args.seeds), args.pretrain_epochs)
    return limited_data_table(results, base.eval.metric)
