"""The leave-one-out protocol's output: the Markdown tables (held-out, seen, fake-vs-original pairs), the
per-fold CSV, ``results.json`` and the bar chart, from the fold results ``leave_one_out`` writes."""

from __future__ import annotations

import csv
import logging
import statistics
from pathlib import Path
from typing import Any, Protocol

from preprocessing.files import write_json_atomic, write_text_atomic

from ..history import CONVERGENCE_WINDOWS, loss_windows, read_history
from ..tables import markdown_table

log = logging.getLogger(__name__)


class Layout(Protocol):
    """What the tables need of a protocol: its held-out units, their short names, the paper's rows."""

    methods: tuple[str, ...]
    short: dict[str, str]
    paper_rows: dict[str, dict[str, float]]
    test_fakes: str


def _by_row(results: list[dict[str, Any]], key: str = "metrics") -> dict[str, dict[str, list[dict[str, float]]]]:
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    for r in results:
        if r.get(key) is not None:
            rows.setdefault(r["label"], {}).setdefault(r["heldout"], []).append(r[key])
    return rows


def _spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [scale * v for v in values if v == v]  # NaN (one class only) left out
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _steps_by_row(results: list[dict[str, Any]]) -> dict[str, str]:
    """label → the optimiser steps its runs trained ("2000", or "1440–2000" when early stopping cut some); rows
    that train nothing in the fold (zero-shot, shortcut baselines) are absent."""
    out: dict[str, list[int]] = {}
    for r in results:
        if r.get("steps") is not None:
            out.setdefault(r["label"], []).append(int(r["steps"]))
    return {k: f"{min(v)}" if min(v) == max(v) else f"{min(v)}–{max(v)}" for k, v in out.items()}


def results_table(results: list[dict[str, Any]], proto: Layout, key: str = "metrics") -> str:
    """Rows = configurations; per held-out method accuracy (%) and AUC, mean ± sample std over seeds.

    ``key="seen"``: the same folds on their seen-method test sets (columns still name the held-out method)."""
    name = {m: proto.short.get(m, m) for m in proto.methods}
    what = "held out" if key == "metrics" else "seen, fold without"
    header = ("configuration", "seeds", "steps", *(f"{what} {name[m]}: acc % / AUC" for m in proto.methods),
              "mean acc %")
    steps = _steps_by_row(results)
    rows = []
    for label, per in _by_row(results, key).items():
        n = max(len(v) for v in per.values())
        cells, means = [], []
        for m in proto.methods:
            runs = per.get(m, [])
            if not runs:
                cells.append("–")
                continue
            accs = [r["acc"] for r in runs]
            means.append(statistics.mean(accs))
            cells.append(f"{_spread(accs, 100)} / {_spread([r['auc'] for r in runs], 1, 3)}")
        mean = f"{100 * statistics.mean(means):.1f}" if means else "–"
        rows.append((label, n, steps.get(label, "none"), *cells, mean))
    for label, per in (proto.paper_rows if key == "metrics" else {}).items():
        rows.append((f"*{label} (reference, not measured here)*", "", "",
                     *(f"*{per[m]:.2f}* / –" for m in proto.methods),
                     f"*{sum(per.values()) / len(per):.2f}*"))
    return markdown_table(header, rows)


def pairs_table(results: list[dict[str, Any]], proto: Layout) -> str:
    """Rows = configurations; per held-out unit with pairs, ``k/n`` fakes above their original, per seed."""
    units = [m for m in proto.methods if any(r.get("pairs") and r["heldout"] == m for r in results)]
    rows = []
    for label in dict.fromkeys(r["label"] for r in results if r.get("pairs")):
        cells = []
        for m in units:
            runs = [r for r in results if r["label"] == label and r["heldout"] == m and r.get("pairs")]
            cells.append(", ".join(f"{r['pairs']['fake_above_original']}/{r['pairs']['n']}" for r in runs) or "–")
        rows.append((label, *cells))
    return markdown_table(("configuration", *(f"held out {proto.short.get(m, m)}" for m in units)), rows)


def training_table(results: list[dict[str, Any]], proto: Layout, out_dir: Path) -> str:
    """One row per trained fold: its budget, mean training CE over windows of it (flat in the last windows
    = converged on its training data), the step validation liked best, why it stopped, precision and wall
    time, read from each fold's ``metrics.jsonl``."""
    header = ("configuration", "held out", "seed", "steps",
              *(f"train CE, steps {a:.0%}–{b:.0%}" for a, b in CONVERGENCE_WINDOWS),
              "best validation step", "stopped by", "precision", "machine", "wall time, min")
    rows = []
    for r in results:
        if r.get("steps") is None:  # zero-shot and shortcut rows train nothing
            continue
        run_dir = out_dir / r["label"] / r["heldout"] / f"s{r['seed']}"
        ce = loss_windows(read_history(run_dir), int(r["steps"]))
        rows.append((r["label"], proto.short.get(r["heldout"], r["heldout"]), r["seed"], r["steps"],
                     *("–" if v is None else f"{v:.3f}" for v in ce), r.get("best_val", {}).get("step", "–"),
                     r.get("stop_reason") or "–", r.get("precision", "–"), r.get("machine", "–"),
                     f"{r['wall_time_s'] / 60:.1f}" if r.get("wall_time_s") else "–"))
    return markdown_table(header, rows)


def last_checkpoint_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The folds that tested their last checkpoint, as results of that checkpoint (same labels)."""
    return [{**r, **{k: r["last"].get(k) for k in ("metrics", "seen", "pairs")}} for r in results if r.get("last")]


def write_tables(results: list[dict[str, Any]], proto: Layout, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = results_table(results, proto)
    if any(r.get("seen") for r in results):
        text += ("\n\nThe same checkpoints on the test-split fakes of the methods their fold trained on + the test "
                 "reals:\n\n" + results_table(results, proto, "seen"))
    if any(r.get("pairs") for r in results):
        text += ("\n\nHeld-out fakes against their own originals (fakes scoring above their source video, per "
                 "seed):\n\n" + pairs_table(results, proto))
    at_last = last_checkpoint_results(results)
    if at_last:
        text += ("\n\nThe last checkpoint of each fold (end of the budget, where the training CE below ends; "
                 "validation chose the checkpoints above), held out:\n\n" + results_table(at_last, proto))
        if any(r.get("seen") for r in at_last):
            text += "\n\nSeen:\n\n" + results_table(at_last, proto, "seen")
        if any(r.get("pairs") for r in at_last):
            text += "\n\nPairs:\n\n" + pairs_table(at_last, proto)
    if any(r.get("steps") is not None for r in results):
        text += ("\n\nTraining, per fold (mean classification CE over windows of its budget; flat over the "
                 "last three = converged on its training data):\n\n" + training_table(results, proto, out_dir))
    write_text_atomic(out_dir / "table.md", text + "\n")
    write_json_atomic(out_dir / "results.json", {"results": results, "paper_reference": proto.paper_rows,
                                                 "methods": list(proto.methods), "test_fakes": proto.test_fakes})
    with (out_dir / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["configuration", "kind", "heldout", "seed", "acc", "acc_at_threshold", "auc", "log_loss", "eer",
                    "n", "n_fake"])
        for r in results:
            m = r["metrics"]
            w.writerow([r["label"], r["kind"], r["heldout"], r.get("seed"), m["acc"], m["acc_at_threshold"], m["auc"],
                        m["log_loss"], m["eer"], int(m["n"]), int(m["n_fake"])])
    bar_chart(results, proto, out_dir / "table.png")
    log.info("wrote %s/table.{md,csv,png} and results.json", out_dir)


def bar_chart(results: list[dict[str, Any]], proto: Layout, path: Path) -> Path:
    """Grouped bars of accuracy per held-out method (mean over seeds, sample std as error bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _by_row(results)
    labels = list(rows)
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.9 * len(proto.methods), 3.6), layout="constrained")
    for i, label in enumerate(labels):
        xs, means, errs = [], [], []
        for j, m in enumerate(proto.methods):
            accs = [100 * r["acc"] for r in rows[label].get(m, [])]
            if accs:
                xs.append(j + (i - (len(labels) - 1) / 2) * width)
                means.append(statistics.mean(accs))
                errs.append(statistics.stdev(accs) if len(accs) > 1 else 0.0)
        ax.bar(xs, means, width * 0.95, yerr=errs, capsize=3, label=label)
    ax.set_xticks(range(len(proto.methods)), [proto.short.get(m, m) for m in proto.methods])
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("video-level accuracy, %")
    ax.set_xlabel("held-out method (its fakes + the test reals)")
    ax.legend(fontsize="small", loc="lower right")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
