"""Leave one manipulation method out, for any preprocessed dataset with two or more fake methods.

For each configuration, held-out method M and seed: train on the other methods' fakes + the real
videos (train split; the val split, without M, picks the checkpoint and the decision threshold), then
test on M's fakes + the test reals. ``test_fakes="test"`` tests on M's test-split fakes (FF++'s Table
8, whose split files fix the test videos); ``"all"`` on every fake of M, none of which the fold saw
(small datasets, where a test split per method would leave almost nothing). A held-out unit can be a
group of methods (``groups``: the lip-sync family held out as one). The people of the held-out fakes
(their ``identity``) are kept out of training and validation, and their real videos (a lip-sync fake's
original, say) join the test set: a fake is then tested beside its own source, which the report
compares pair by pair. Each fold tests ``best.pt`` (the step validation chose) and ``last.pt`` (the
end of the budget: what a run that fitted its training data detects). Zero-shot rows: a given
checkpoint on each unit's fakes + the test reals.

Guards refuse a fold whose training or validation data holds M, a test-split video or an identity of
its test set, or holds no fake at all. Every fold writes ``result.json`` when it finishes, so a rerun
skips finished folds, and continues an interrupted one from its ``last.pt``. ``cross_manipulation`` is
this protocol on FF++ with the paper's rows beside it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preprocessing.files import write_json_atomic

from ..config import Config, load_config
from ..configschema import to_dict
from .loo_tables import results_table, write_tables
from .protocol import Protocol, ProtocolError, make_protocol, manifest_rows

log = logging.getLogger(__name__)

@dataclass
class Fold:
    label: str  # configuration label (row of the table)
    heldout: str
    seed: int
    cfg: Config
    out_dir: Path

    @property
    def result_path(self) -> Path:
        return self.out_dir / "result.json"


def fold_config(base: Config, proto: Protocol, heldout: str, seed: int, init: str | None, out_dir: Path) -> Config:
    """The configuration of one fold: the other methods' fakes + reals, without the held-out fakes' people,
    this seed, its own run folder."""
    train_methods = ["real", *proto.trained(heldout)]
    people = proto.held_people(heldout)
    overrides = [
        f"data.dataset={proto.dataset}", f"data.root={proto.root}", f"train.output_dir={out_dir}",
        f"train.seed={seed}", "data.methods=[" + ", ".join(train_methods) + "]",
        "data.exclude_identities=" + ("[" + ", ".join(people) + "]" if people else "null"),
        "eval.test_at_end=false",  # the fold is tested on its held-out method, below
    ]
    if init is not None and base.model.init is None:  # a configuration's own weights (e.g. SSL) win
        overrides.append(f"model.init={init}")
    return load_config(to_dict(base), overrides=overrides)


def check_fold(task, heldout: str, test_rows: list[dict] | None = None, members: tuple[str, ...] = ()) -> None:
    """Guards: the held-out method never enters training or validation; neither do test videos, test-split
    videos or test identities; training and validation share no video or identity; training has fakes."""
    test_ids = {r["video_id"] for r in test_rows or []}
    test_people = {r["identity"] for r in test_rows or []}
    members = set(members or (heldout,))
    for name, dataset in (("training", task.train_set), ("validation", task.val_set)):
        rows = dataset.rows
        for what, bad in ((f"{heldout} videos", [r for r in rows if r["method"] in members]),
                          ("test videos", [r for r in rows if r["split"] == "test" or r["video_id"] in test_ids]),
                          ("test identities", [r for r in rows if r["identity"] in test_people])):
            if bad:
                hint = (" (the test set holds a person the fold trains on; with --test-fakes all every fake of "
                        "the held-out method is a test video: use --test-fakes test when fakes share identities "
                        "with other videos)") if what == "test identities" else ""
                raise ProtocolError(f"{what} in the {name} set of the fold holding out {heldout}: "
                                    f"{sorted({r['video_id'] for r in bad})[:3]}{hint}")
    train, val = task.train_set.rows, task.val_set.rows
    for key, what in (("video_id", "videos"), ("identity", "identities")):
        both = {r[key] for r in train} & {r[key] for r in val}
        if both:
            raise ProtocolError(f"{what} in both training and validation: {sorted(both)[:3]}")
    if not any(r["label"] == 1 for r in train):
        raise ProtocolError(f"the fold holding out {heldout} has no fake left to train on: the other methods "
                            "have no training videos (add videos, or lower --val-fraction/--test-fraction)")


def _test_rows(proto: Protocol, heldout: str) -> list[dict]:
    from ..data.video import select_tracks

    return select_tracks(manifest_rows(proto.root), proto.test_selection(heldout))


def _test(checkpoint: Path, proto: Protocol, heldout: str, device: str | None,
          out_dir: Path | None = None) -> dict[str, Any]:
    """One checkpoint of a fold on its held-out unit (+ the reals of its people) and on the seen methods'
    test-split fakes."""
    from ..train import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, split=proto.test_selection(heldout), device=device or "auto",
                                 out_dir=out_dir)
    try:
        seen = evaluate_checkpoint(checkpoint, split=proto.seen_selection(heldout), device=device or "auto")["overall"]
    except ValueError as e:  # the trained methods have no test-split fakes
        log.info("held out %s: no seen-method test set (%s)", heldout, e)
        seen = None
    return {"metrics": report["overall"], "seen": seen, "unscored": report["unscored"], "pairs": report.get("pairs")}


def add_last_checkpoint(fold: Fold, proto: Protocol, result: dict[str, Any], device: str | None = None
                        ) -> dict[str, Any]:
    """``result`` with ``last``: the end-of-budget checkpoint (``last.pt``) tested as ``best.pt`` was. It
    answers what the run that fitted its training data detects, where validation chose an earlier step.
    Written back to ``result.json``; unchanged when ``last.pt`` is gone."""
    last = fold.out_dir / "last.pt"
    if "last" in result or not last.is_file():
        return result
    if result.get("best_val", {}).get("step") == result["steps"]:  # best is the last step
        tested = {k: result[k] for k in ("metrics", "seen", "unscored", "pairs")}
    else:
        log.info("fold %s / held out %s / seed %d: testing last.pt (step %d)", fold.label, fold.heldout,
                 fold.seed, result["steps"])
        tested = _test(last, proto, fold.heldout, device or fold.cfg.train.device)
    result = {**result, "last": {"step": result["steps"], **tested}}
    write_json_atomic(fold.result_path, result)
    return result


def run_fold(fold: Fold, proto: Protocol, device: str | None = None) -> dict[str, Any]:
    """Train one fold and test its best and its last checkpoint on the held-out unit; writes and returns its
    result."""
    from ..train import train

    cfg = fold.cfg
    if device is not None:
        cfg = load_config(to_dict(cfg), overrides=[f"train.device={device}"])
    log.info("fold %s / held out %s / seed %d → %s", fold.label, fold.heldout, fold.seed, fold.out_dir)
    test_rows = _test_rows(proto, fold.heldout)
    # a fold interrupted mid-training continues from its last checkpoint
    resume = fold.out_dir if (fold.out_dir / "last.pt").is_file() else None
    summary = train(cfg, resume=resume, task_check=lambda task: check_fold(task, fold.heldout, test_rows,
                                                                          proto.members(fold.heldout)))
    tested = _test(fold.out_dir / "best.pt", proto, fold.heldout, cfg.train.device, out_dir=fold.out_dir / "test")
    result = {"label": fold.label, "heldout": fold.heldout, "seed": fold.seed, "kind": "leave-one-out",
              **tested,
              "best_val": {summary["best_metric"]: summary["best_value"], "epoch": summary["best_epoch"],
                           "step": summary["best_step"]},
              "steps": summary["steps"], "stop_reason": summary["stop_reason"],
              "train_methods": cfg.data.methods, "test_fakes": proto.test_fakes,
              "wall_time_s": summary["wall_time_s"], "precision": summary["precision"],
              "machine": summary["machine"]}
    write_json_atomic(fold.result_path, result)
    return add_last_checkpoint(fold, proto, result, cfg.train.device)


def run_zero_shot(checkpoint: str | Path, proto: Protocol, out_dir: Path, device: str = "auto"
                  ) -> list[dict[str, Any]]:
    """A trained checkpoint on each method's fakes + the test reals, without training."""
    from ..train import evaluate_checkpoint

    results = []
    for m in proto.methods:
        path = out_dir / f"zero_shot_{Path(checkpoint).stem}" / m / "result.json"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        report = evaluate_checkpoint(checkpoint, split=proto.test_selection(m), device=device,
                                     overrides={"data": {"dataset": proto.dataset, "root": proto.root,
                                                         "methods": None}})
        res = {"label": f"zero-shot: {Path(checkpoint).stem}", "heldout": m, "seed": None, "kind": "zero-shot",
               "metrics": report["overall"], "unscored": report["unscored"], "pairs": report.get("pairs"),
               "test_fakes": proto.test_fakes}
        write_json_atomic(path, res)
        results.append(res)
    return results


def plan_folds(configs: list[tuple[str, Config]], proto: Protocol, init: str | None, out_dir: Path,
               seeds: tuple[int, ...] = (0,), only: tuple[str, ...] | None = None) -> list[Fold]:
    """Every (configuration, held-out unit, seed), or only the folds holding out ``only``
    (``--folds a b`` or ``--folds a,b``: both spellings are natural on a command line)."""
    only = tuple(u for item in only for u in item.split(",") if u) if only else None
    unknown = sorted(set(only or ()) - set(proto.methods))
    if unknown:
        raise ProtocolError(f"--folds {unknown}: not held-out units of this protocol ({list(proto.methods)})")
    return [Fold(label, m, s, fold_config(cfg, proto, m, s, init, out_dir / label / m / f"s{s}"),
                 out_dir / label / m / f"s{s}")
            for label, cfg in configs for m in proto.methods if not only or m in only for s in seeds]


def finished_results(out_dir: Path, proto: Protocol, skip: set[Path] | None = None) -> list[dict[str, Any]]:
    """Every fold result under ``out_dir`` (``LABEL/UNIT/sSEED/result.json``) that holds out a unit of this
    protocol, but those in ``skip``: a table grows over several runs (other folds, seeds or rows)."""
    found = []
    for path in sorted(out_dir.glob("*/*/s*/result.json")):
        if path in (skip or set()):
            continue
        result = json.loads(path.read_text())
        if result.get("kind") == "leave-one-out" and result.get("heldout") in proto.methods:
            found.append(result)
    return found


def sorted_results(results: list[dict[str, Any]], proto: Protocol) -> list[dict[str, Any]]:
    """Rows in the order they first appear, then held-out units in the protocol's order, then seeds."""
    first = {label: i for i, label in reversed(list(enumerate(r["label"] for r in results)))}
    return sorted(results, key=lambda r: (first[r["label"]], proto.methods.index(r["heldout"]), r["seed"]))


def _run_fold_process(fold: Fold, proto: Protocol, device: str | None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_fold(fold, proto, device)


def run_protocol(configs: list[tuple[str, Config]], proto: Protocol, out_dir: str | Path, init: str | None = None,
                 zero_shot: list[str] | None = None, devices: list[str] | None = None,
                 seeds: tuple[int, ...] = (0,), extra_rows: list[dict[str, Any]] | None = None,
                 only: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Run every unfinished fold (in order, or one process per device side by side) and the zero-shot
    evaluations; write the table files; return all results (``extra_rows``, e.g. baselines, appended)."""
    out_dir = Path(out_dir)
    folds = plan_folds(configs, proto, init, out_dir, seeds, only)
    todo = [f for f in folds if not f.result_path.is_file()]
    if len(todo) < len(folds):
        log.info("resuming: %d of %d folds already finished", len(folds) - len(todo), len(folds))
    if devices and len(devices) > 1 and todo:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(devices), mp_context=ctx) as pool:
            futures = [pool.submit(_run_fold_process, f, proto, devices[i % len(devices)]) for i, f in enumerate(todo)]
            for fut in futures:
                fut.result()
    else:
        for f in todo:
            run_fold(f, proto, devices[0] if devices else None)
    # folds finished before last.pt was tested (or by an older version) get that test now
    results = [add_last_checkpoint(f, proto, json.loads(f.result_path.read_text()), devices[0] if devices else None)
               for f in folds]
    earlier = finished_results(out_dir, proto, skip={f.result_path for f in folds})
    if earlier:
        log.info("the tables also hold %d fold results of earlier runs in %s", len(earlier), out_dir)
    results = sorted_results([*results, *earlier], proto)
    for ckpt in zero_shot or []:
        results += run_zero_shot(ckpt, proto, out_dir, (devices or ["auto"])[0])
    results += extra_rows or []
    write_tables(results, proto, out_dir)
    return results


def load_labelled_configs(paths: list[str], overrides: list[str] = ()) -> list[tuple[str, Config]]:
    """Each YAML (preset name or file) → (its file stem as the row label, config with ``overrides``)."""
    from ..config import preset_path

    out = []
    for p in paths:
        label = Path(str(preset_path(p))).stem
        if label in {lab for lab, _ in out}:
            raise ValueError(f"two configurations are both labelled {label!r}; give the files distinct names")
        out.append((label, load_config(p, overrides=overrides)))
    return out


# ---------------------------------------------------------------------------------------------
# Command line: `deepfake-ssat benchmark leave-one-out …`
# ---------------------------------------------------------------------------------------------
HELP = "leave one manipulation method out, for any dataset with two or more fake methods"
DESCRIPTION = ("For each held-out method: train on the other methods + reals, test on its fakes + the test reals; "
               "for every configuration and seed; evaluate given checkpoints zero-shot. Reruns resume.")

EXAMPLES = ("deepfake-ssat benchmark leave-one-out --data-root runs/th_faces --row ssat video/talking_heads "
            "--row scratch video/talking_heads model.mode=scratch --seeds 0 1 2 --shortcut-baselines",
            "deepfake-ssat benchmark leave-one-out --data-root runs/th_faces --row ssat video/talking_heads "
            "--group lipsync=wav2lip,wav2lip_gfpgan,retalking,sadtalker_vls,ip_lap,latentsync",
            "deepfake-ssat benchmark leave-one-out --data-root data/mine --configs my/ssat.yaml --test-fakes test")


def add_common_arguments(parser) -> None:
    parser.add_argument("--row", nargs="+", action="append", default=[], metavar=("LABEL PRESET", "KEY=VALUE"),
                        help="a table row: its label, a preset or YAML, and overrides, e.g. --row scratch "
                             "video/talking_heads model.mode=scratch (repeatable; beside or instead of --configs)")
    parser.add_argument("--init", help="checkpoint every fold starts from; omit to train from scratch")
    parser.add_argument("--zero-shot", nargs="*", default=None, metavar="CKPT",
                        help="checkpoints to evaluate without training (default: --init when given)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="one run per fold and seed")
    parser.add_argument("--folds", nargs="+", metavar="UNIT",
                        help="run only the folds holding out these methods or groups, space- or comma-separated "
                             "(every other one is still trained on); a later run without it fills in the rest")
    parser.add_argument("--devices", nargs="+",
                        help="run folds side by side, one process per device (cuda:0 cuda:1 …)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every configuration, e.g. --set train.epochs=10")
    parser.add_argument("--tables-only", action="store_true",
                        help="train nothing: write and print the tables from the fold results already in --out "
                             "(a table that took several runs, or another machine's results)")


def add_arguments(parser) -> None:
    parser.add_argument("--data-root", required=True, help="preprocessed data (the --out of `preprocess`)")
    parser.add_argument("--dataset", default="folder", choices=["folder", "dfdc", "ffpp"],
                        help="data.dataset of the preprocessed data (default folder)")
    parser.add_argument("--configs", nargs="+", default=[], metavar="YAML",
                        help="one table row per configuration (preset name or YAML file; label = file name)")
    parser.add_argument("--methods", nargs="+",
                        help="fake methods (or --group names) to hold out in turn (default: every group, and "
                             "every method in no group)")
    parser.add_argument("--group", action="append", default=[], metavar="NAME=M1,M2,…",
                        help="hold these fake methods out together as one unit, e.g. "
                             "--group lipsync=wav2lip,retalking (repeatable)")
    parser.add_argument("--shortcut-baselines", action="store_true",
                        help="add rows of logistic regressions on recording and crop statistics (no manipulation "
                             "visible to them) trained and tested on the same folds")
    parser.add_argument("--test-fakes", choices=["test", "all"], default="all",
                        help="the held-out method's fakes to test on: its test split, or all of them (default: "
                             "all; none was trained on)")
    parser.add_argument("--out", default="runs/leave_one_out", help="results folder (reruns resume here)")
    add_common_arguments(parser)


def parse_groups(items: list[str]) -> dict[str, list[str]]:
    """``["lipsync=wav2lip,retalking"]`` → ``{"lipsync": ["wav2lip", "retalking"]}``."""
    groups: dict[str, list[str]] = {}
    for item in items:
        name, sep, members = item.partition("=")
        ms = [m.strip() for m in members.split(",") if m.strip()]
        if not sep or not name.strip() or not ms:
            raise ValueError(f"--group {item}: expected NAME=METHOD,METHOD,… (e.g. lipsync=wav2lip,retalking)")
        if name.strip() in groups:
            raise ValueError(f"--group {name.strip()} is given twice")
        groups[name.strip()] = ms
    return groups


def run_from_args(args) -> str:
    """Run the protocol; returns the Markdown table."""
    proto = make_protocol(args.dataset, args.data_root, args.methods, args.test_fakes, groups=parse_groups(args.group))
    extra = []
    if args.shortcut_baselines:
        from .shortcuts import shortcut_rows

        extra = shortcut_rows(proto)
    return _run(args, proto, extra)


def _rows_from_args(args) -> list[tuple[str, Config]]:
    if args.tables_only:
        if args.configs or args.row:
            raise ValueError("--tables-only trains nothing: leave out --row and --configs")
        return []
    configs = load_labelled_configs(args.configs, args.set)
    for row in args.row:
        if len(row) < 2:
            raise ValueError(f"--row {' '.join(row)}: give a label and a preset or YAML, then any KEY=VALUE")
        label, preset, *overrides = row
        if label in {lab for lab, _ in configs}:
            raise ValueError(f"two rows are both labelled {label!r}")
        configs.append((label, load_config(preset, overrides=[*overrides, *args.set])))
    if not configs:
        raise ValueError("no configuration to run: give --configs YAML … or --row LABEL PRESET [KEY=VALUE …]")
    return configs


def _run(args, proto: Protocol, extra_rows: list[dict[str, Any]] | None = None) -> str:
    zero_shot = args.zero_shot if args.zero_shot is not None else ([args.init] if args.init else [])
    results = run_protocol(_rows_from_args(args), proto, args.out, init=args.init, zero_shot=zero_shot,
                           devices=args.devices, seeds=tuple(args.seeds), extra_rows=extra_rows,
                           only=tuple(args.folds) if args.folds else None)
    return results_table(results, proto)
