"""The leave-one-method-out protocol, and its FF++ use (cross-manipulation, Table 8), on a generated
four-method sample tree."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

import deepfake_ssat.protocols.cross_manipulation as bench
import deepfake_ssat.protocols.leave_one_out as loo
from deepfake_ssat.config import load_config
from deepfake_ssat.configschema import to_dict
from deepfake_ssat.models import get_spec
from deepfake_ssat.runtime import local_runtime
from deepfake_ssat.tasks import build_task

TINY = {
    "model": {"name": "test_videomae", "mask_ratio": 0.75, "drop_path": 0.0},
    "data": {"num_workers": 0},
    "train": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0, "layer_decay": None, "label_smoothing": 0.0,
              "device": "cpu", "max_steps": 2},
    "eval": {"metric": "auc", "batch_size": 8},
}


@pytest.fixture(scope="module")
def ffpp_faces(tmp_path_factory) -> Path:
    from preprocessing import PreprocessConfig, run_preprocess
    from preprocessing.sample import write_sample_dataset

    base = tmp_path_factory.mktemp("ffpp")
    raw = write_sample_dataset("ffpp", base / "raw", videos=6, frames=16, size=160, seed=1)
    cfg = PreprocessConfig(dataset="ffpp", root=str(raw), out=str(base / "faces"), workers=0, progress=False)
    cfg.faces.size = 48
    cfg.faces.tracker.min_frames = 8
    run_preprocess(cfg)
    return base / "faces"


@pytest.fixture
def two_configs(tmp_path) -> list[str]:
    paths = []
    for name, mode in (("scratch", "scratch"), ("ssat_075", "ssat")):
        cfg = {**TINY, "model": {**TINY["model"], "mode": mode}}
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(cfg))
        paths.append(str(p))
    return paths


def test_benchmark_writes_a_complete_table_for_two_configurations(ffpp_faces, two_configs, tmp_path):
    from deepfake_ssat.cli import main

    out = tmp_path / "bench"
    assert main(["benchmark", "cross-manipulation", "--ffpp", str(ffpp_faces), "--configs", *two_configs,
                 "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    for label in ("scratch", "ssat_075"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert "–" not in row  # all four methods measured
    assert "reference, not measured here" in table
    with (out / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["heldout"] for r in rows} == set(bench.METHODS)
    assert (out / "table.png").stat().st_size > 1000 and (out / "results.json").is_file()
    # Rerun with a zero-shot checkpoint: finished folds are kept, zero-shot rows are added.
    ckpt = out / "scratch" / "Deepfakes" / "s0" / "best.pt"
    assert main(["benchmark", "cross-manipulation", "--ffpp", str(ffpp_faces), "--configs", *two_configs,
                 "--out", str(out), "--zero-shot", str(ckpt)]) == 0
    row = next(line for line in (out / "table.md").read_text().splitlines() if line.startswith("| zero-shot: best"))
    assert "–" not in row


def test_each_fold_excludes_its_held_out_method_and_the_test_split(ffpp_faces, tmp_path):
    base = load_config(TINY)
    spec = get_spec("test_videomae")
    proto = bench.ffpp_protocol(ffpp_faces)
    for fold in loo.plan_folds([("tiny", base)], proto, None, tmp_path):
        task = build_task(fold.cfg, spec)
        methods = {r["method"] for r in task.train_set.rows}
        assert fold.heldout not in methods and methods == {"real"} | (set(bench.METHODS) - {fold.heldout})
        assert {r["split"] for r in task.train_set.rows} == {"train"}
        assert {r["split"] for r in task.val_set.rows} == {"val"}
        loo.check_fold(task, fold.heldout, loo._test_rows(proto, fold.heldout))  # a correct fold passes


def test_folds_may_be_given_space_or_comma_separated(ffpp_faces, tmp_path):
    base = load_config(TINY)
    proto = bench.ffpp_protocol(ffpp_faces)
    for only in (("Deepfakes", "FaceSwap"), ("Deepfakes,FaceSwap",), ("Deepfakes,", "FaceSwap")):
        folds = loo.plan_folds([("tiny", base)], proto, None, tmp_path, only=only)
        assert [f.heldout for f in folds] == ["Deepfakes", "FaceSwap"]
    with pytest.raises(loo.ProtocolError, match=r"\['NoSuch'\]: not held-out units"):
        loo.plan_folds([("tiny", base)], proto, None, tmp_path, only=("Deepfakes,NoSuch",))


def test_protocol_guard_rejects_a_leaking_fold(ffpp_faces, tmp_path):
    cfg = load_config(TINY, overrides=["data.dataset=ffpp", f"data.root={ffpp_faces}"])  # all methods
    task = build_task(cfg, get_spec("test_videomae"))
    with pytest.raises(loo.ProtocolError, match="Deepfakes videos in the training set"):
        loo.check_fold(task, "Deepfakes")


def test_interrupted_benchmark_resumes_without_redoing_finished_folds(ffpp_faces, two_configs, tmp_path,
                                                                      monkeypatch):
    configs = loo.load_labelled_configs(two_configs[:1])
    proto = bench.ffpp_protocol(ffpp_faces)
    out = tmp_path / "bench"
    calls: list[str] = []
    real = loo.run_fold

    def counting(fold, proto, device=None):
        calls.append(fold.heldout)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third fold
        return real(fold, proto, device)

    monkeypatch.setattr(loo, "run_fold", counting)
    with pytest.raises(KeyboardInterrupt):
        loo.run_protocol(configs, proto, out)
    assert len(list(out.rglob("result.json"))) == 2
    calls.clear()
    monkeypatch.setattr(loo, "run_fold", lambda f, p, d=None: (calls.append(f.heldout), real(f, p, d))[1])
    results = loo.run_protocol(configs, proto, out)
    assert calls == ["FaceSwap", "NeuralTextures"]  # only the unfinished folds ran
    assert len(results) == 4


def test_a_table_grows_over_runs_and_is_rebuilt_without_training(ffpp_faces, two_configs, tmp_path, monkeypatch,
                                                                 capsys):
    from deepfake_ssat.cli import main

    proto = bench.ffpp_protocol(ffpp_faces, ("Deepfakes", "FaceSwap"))
    out = tmp_path / "bench"
    configs = loo.load_labelled_configs(two_configs[:1])
    loo.run_protocol(configs, proto, out, only=("FaceSwap",))
    later = loo.run_protocol(configs, proto, out, only=("Deepfakes",), seeds=(1,))  # another session's run
    assert [(r["heldout"], r["seed"]) for r in later] == [("Deepfakes", 1), ("FaceSwap", 0)]
    # what auto picks here: bf16 on CPUs with bf16 units, else fp32
    assert later[0]["precision"] == local_runtime("cpu").precision_name and later[0]["machine"]
    table = (out / "table.md").read_text()
    assert "train CE, steps 80%–100%" in table and table.count("| scratch | FS | 0 |") == 1

    def no_training(*a, **k):
        raise AssertionError("--tables-only trained a fold")

    monkeypatch.setattr(loo, "run_fold", no_training)
    (out / "table.md").unlink()
    args = ["benchmark", "cross-manipulation", "--ffpp", str(ffpp_faces), "--methods", "Deepfakes", "FaceSwap",
            "--out", str(out), "--tables-only"]
    assert main(args) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| scratch |"))
    assert "–" not in row  # both folds, from two runs
    assert (out / "table.md").is_file()
    assert main([*args, "--configs", two_configs[0]]) == 2
    assert "--tables-only trains nothing" in capsys.readouterr().err


def test_a_fold_tests_its_last_checkpoint_too_and_a_rerun_adds_it_to_older_results(ffpp_faces, two_configs,
                                                                                 tmp_path, monkeypatch):
    import json

    proto = bench.ffpp_protocol(ffpp_faces, ("Deepfakes", "FaceSwap"))
    out = tmp_path / "bench"
    configs = loo.load_labelled_configs(two_configs[:1])
    (fresh,) = loo.run_protocol(configs, proto, out, only=("Deepfakes",))
    assert fresh["last"]["step"] == fresh["steps"]
    assert fresh["best_val"]["step"] == fresh["steps"]  # one epoch: best is last, so its results, no second test
    assert fresh["last"]["metrics"] == fresh["metrics"]
    # A result written before last.pt was tested, whose validation preferred an earlier step.
    path = out / "scratch" / "Deepfakes" / "s0" / "result.json"
    older = {k: v for k, v in json.loads(path.read_text()).items() if k != "last"}
    path.write_text(json.dumps({**older, "best_val": {**older["best_val"], "step": 0}}))
    tested = []
    real_test = loo._test
    monkeypatch.setattr(loo, "_test",
                        lambda ckpt, *a, **k: (tested.append(Path(ckpt).name), real_test(ckpt, *a, **k))[1])
    monkeypatch.setattr(loo, "run_fold", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    (again,) = loo.run_protocol(configs, proto, out, only=("Deepfakes",))
    assert tested == ["last.pt"] and again["last"]["step"] == fresh["steps"]
    assert 0 <= again["last"]["metrics"]["auc"] <= 1
    assert json.loads(path.read_text())["last"] == again["last"]  # written back: the next rerun tests nothing
    loo.run_protocol(configs, proto, out, only=("Deepfakes",))
    assert tested == ["last.pt"]
    assert "The last checkpoint of each fold" in (out / "table.md").read_text()
    # Without last.pt (checkpoints deleted, results kept) a result stays as it was.
    path.write_text(json.dumps(older))
    (out / "scratch" / "Deepfakes" / "s0" / "last.pt").unlink()
    (kept,) = loo.run_protocol(configs, proto, out, only=("Deepfakes",))
    assert "last" not in kept and "The last checkpoint" not in (out / "table.md").read_text()


def test_a_fold_interrupted_mid_training_continues_from_its_last_checkpoint(ffpp_faces, two_configs, tmp_path,
                                                                            caplog):
    import logging

    proto = bench.ffpp_protocol(ffpp_faces, ("Deepfakes", "FaceSwap"))
    out = tmp_path / "bench"
    cut = loo.load_labelled_configs(two_configs[:1], ["train.epochs=3", "train.max_steps=1"])
    loo.run_protocol(cut, proto, out)  # stands for a fold killed after its first step
    fold_dir = out / "scratch" / "Deepfakes" / "s0"
    (fold_dir / "result.json").unlink()
    caplog.set_level(logging.INFO, logger="deepfake_ssat")
    full = loo.load_labelled_configs(two_configs[:1], ["train.epochs=3", "train.max_steps=2"])
    results = {r["heldout"]: r for r in loo.run_protocol(full, proto, out, only=("Deepfakes",))}
    assert "resumed at epoch" in caplog.text and results["Deepfakes"]["steps"] == 2


def test_fold_config_starts_from_init_unless_the_configuration_has_weights(ffpp_faces, tmp_path):
    base = load_config(TINY)
    proto = bench.ffpp_protocol(ffpp_faces)
    cfg = loo.fold_config(base, proto, "Face2Face", 3, "dfdc.pt", tmp_path / "f")
    assert cfg.model.init == "dfdc.pt" and cfg.data.methods == ["real", "Deepfakes", "FaceSwap", "NeuralTextures"]
    assert cfg.train.seed == 3
    own = load_config(to_dict(base), overrides=["model.init=ssl.pt"])
    assert loo.fold_config(own, proto, "Face2Face", 0, "dfdc.pt", tmp_path / "f").model.init == "ssl.pt"


@pytest.fixture(scope="module")
def folder_faces(ffpp_faces, tmp_path_factory) -> Path:
    """The sample's clips as a folder dataset with two fake methods and identities (its manifest rewritten)."""
    from preprocessing.manifest import read_manifest, write_manifest

    out = tmp_path_factory.mktemp("folder_faces")
    (out / "clips").symlink_to(ffpp_faces / "clips")
    rows = []
    for r in read_manifest(ffpp_faces / "manifest.jsonl"):
        if r["method"] in ("real", "Deepfakes", "FaceSwap"):
            vid = r["video_id"].replace("ffpp/", "folder/")
            rows.append({**r, "dataset": "folder", "video_id": vid, "original": vid, "identity": vid})
    write_manifest(out / "manifest.jsonl", rows)
    return out


def test_leave_one_out_on_a_folder_dataset_with_seeds_and_all_held_out_fakes(folder_faces, two_configs, tmp_path):
    from deepfake_ssat.cli import main
    from preprocessing.manifest import read_manifest

    out = tmp_path / "loo"
    assert main(["benchmark", "leave-one-out", "--data-root", str(folder_faces), "--configs", two_configs[0],
                 "--seeds", "0", "1", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| scratch |"))
    assert row.startswith("| scratch | 2 |") and row.count(" ± ") >= 2 and "–" not in row  # 2 seeds, mean ± std
    rows = read_manifest(folder_faces / "manifest.jsonl")
    results = __import__("json").loads((out / "results.json").read_text())["results"]
    assert len(results) == 4 and {(r["heldout"], r["seed"]) for r in results} == {
        (m, s) for m in ("Deepfakes", "FaceSwap") for s in (0, 1)}
    reals = {x["video_id"] for x in rows if x["method"] == "real" and x["split"] == "test"}
    for r in results:  # every fake of the held-out method (no fold trained on it) + the test reals
        fakes = {x["video_id"] for x in rows if x["method"] == r["heldout"]}
        assert r["metrics"]["n_fake"] == len(fakes) and r["metrics"]["n"] == len(fakes) + len(reals)
        seen = {x["video_id"] for x in rows if x["method"] not in ("real", r["heldout"]) and x["split"] == "test"}
        assert r["seen"]["n"] == len(seen) + len(reals)  # the trained method's test fakes + the test reals
    # The same row given as --row, with the shortcut baselines: no fold retrains, baseline rows join.
    assert main(["benchmark", "leave-one-out", "--data-root", str(folder_faces), "--row", "scratch", two_configs[0],
                 "--seeds", "0", "1", "--shortcut-baselines", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "| shortcut: recording (bits per pixel, frame size) | 1 |" in table
    assert "| shortcut: all four statistics | 1 |" in table and "seen, fold without" in table
    assert len(__import__("json").loads((out / "results.json").read_text())["results"]) == 4 + 3 * 2


def test_leave_one_out_refuses_what_it_cannot_measure(folder_faces, two_configs, tmp_path, capsys):
    from deepfake_ssat.cli import main
    from preprocessing.manifest import read_manifest, write_manifest

    with pytest.raises(loo.ProtocolError, match="needs two or more fake methods"):
        loo.make_protocol("folder", folder_faces, methods=["Deepfakes"])
    # FaceSwap only in the test split: holding out Deepfakes leaves no fake to train on.
    thin = tmp_path / "thin"
    thin.mkdir()
    (thin / "clips").symlink_to(folder_faces / "clips")
    write_manifest(thin / "manifest.jsonl", [{**r, "split": "test"} if r["method"] == "FaceSwap" else r
                                             for r in read_manifest(folder_faces / "manifest.jsonl")])
    assert main(["benchmark", "leave-one-out", "--data-root", str(thin), "--configs", two_configs[0],
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holding out Deepfakes has no fake left to train on" in err[0]


@pytest.fixture(scope="module")
def paired_faces(ffpp_faces, tmp_path_factory) -> Path:
    """A folder dataset of three fake methods where two Deepfakes fakes were made from training reals (their
    ``original`` and identity point at them), as lip-sync fakes are made from a real video."""
    from preprocessing.manifest import read_manifest, write_manifest

    out = tmp_path_factory.mktemp("paired_faces")
    (out / "clips").symlink_to(ffpp_faces / "clips")
    rows = []
    for r in read_manifest(ffpp_faces / "manifest.jsonl"):
        if r["method"] in ("real", "Deepfakes", "FaceSwap", "Face2Face"):
            vid = r["video_id"].replace("ffpp/", "folder/")
            rows.append({**r, "dataset": "folder", "video_id": vid, "original": vid, "identity": vid})
    train_reals = sorted({r["video_id"] for r in rows if r["method"] == "real" and r["split"] == "train"})[:2]
    fakes = sorted({r["video_id"] for r in rows if r["method"] == "Deepfakes" and r["split"] == "train"})[:2]
    link = dict(zip(fakes, train_reals, strict=True))
    rows = [{**r, "original": link[r["video_id"]], "identity": link[r["video_id"]]} if r["video_id"] in link else r
            for r in rows]
    write_manifest(out / "manifest.jsonl", rows)
    return out


def test_a_group_is_held_out_as_one_and_its_fakes_are_tested_beside_their_originals(paired_faces, tmp_path):
    from deepfake_ssat.data.video import select_tracks
    from preprocessing.manifest import read_manifest

    rows = read_manifest(paired_faces / "manifest.jsonl")
    proto = loo.make_protocol("folder", paired_faces, test_fakes="all", groups={"swaps": ["Deepfakes", "FaceSwap"]})
    assert proto.methods == ("swaps", "Face2Face") and proto.members("swaps") == ("Deepfakes", "FaceSwap")
    linked = sorted({r["original"] for r in rows if r["method"] == "Deepfakes" and r["original"] != r["video_id"]})
    assert len(linked) == 2 and set(linked) <= set(proto.held_people("swaps"))
    cfg = loo.fold_config(load_config(TINY), proto, "swaps", 0, None, tmp_path / "f")
    assert cfg.data.methods == ["real", "Face2Face"] and set(cfg.data.exclude_identities) == set(
        proto.held_people("swaps"))
    task = build_task(cfg, get_spec("test_videomae"))
    assert not {r["identity"] for r in task.train_set.rows + task.val_set.rows} & set(linked)  # the originals left
    test = {r["video_id"] for r in select_tracks(rows, proto.test_selection("swaps"))}
    assert set(linked) <= test  # and joined the test set beside their fakes
    loo.check_fold(task, "swaps", select_tracks(rows, proto.test_selection("swaps")), proto.members("swaps"))
    with pytest.raises(loo.ProtocolError, match="'Face2Face' is also a method name"):
        loo.make_protocol("folder", paired_faces, groups={"Face2Face": ["Deepfakes"]})
    with pytest.raises(loo.ProtocolError, match=r"group 'g': \['NoSuch'\] are not fake methods"):
        loo.make_protocol("folder", paired_faces, groups={"g": ["NoSuch"]})
    with pytest.raises(ValueError, match="expected NAME=METHOD,METHOD"):
        loo.parse_groups(["swaps"])


def test_a_held_out_group_fold_reports_its_pairs(paired_faces, two_configs, tmp_path):
    from deepfake_ssat.cli import main

    out = tmp_path / "loo"
    args = ["benchmark", "leave-one-out", "--data-root", str(paired_faces), "--configs", two_configs[0],
            "--group", "swaps=Deepfakes,FaceSwap", "--out", str(out), "--set", "train.batch_size=2",
            "--set", "train.epochs=5"]
    assert main([*args, "--folds", "swaps"]) == 0  # one fold now (Face2Face still trained on), the rest later
    results = {r["heldout"]: r for r in __import__("json").loads((out / "results.json").read_text())["results"]}
    assert set(results) == {"swaps"} and results["swaps"]["train_methods"] == ["real", "Face2Face"]
    assert main([*args, "--folds", "Deepfakes"]) == 2  # grouped: not a unit of its own
    assert main(args) == 0
    results = {r["heldout"]: r for r in __import__("json").loads((out / "results.json").read_text())["results"]}
    assert set(results) == {"swaps", "Face2Face"}
    pairs = results["swaps"]["pairs"]
    assert pairs["n"] == 2 and 0 <= pairs["fake_above_original"] <= 2
    assert all(p["fake"].startswith("folder/") and p["original"] != p["fake"] for p in pairs["pairs"])
    assert results["swaps"]["steps"] == 2 and results["swaps"]["stop_reason"] == "max_steps"
    assert "Held-out fakes against their own originals" in (out / "table.md").read_text()
    assert (out / "scratch" / "swaps" / "s0" / "test" / "predictions.csv").is_file()


def test_shortcut_baselines_compare_each_fake_with_its_original_too():
    import numpy as np

    from deepfake_ssat.protocols.shortcuts import shortcut_pairs

    class ByFeature:  # a "classifier" whose fake probability is the feature itself
        def predict_proba(self, x):
            return np.stack([1 - x[:, 0], x[:, 0]], 1)

    videos = [{"video_id": "r1", "original": "r1", "label": 0, "f": 0.3},
              {"video_id": "f1", "original": "r1", "label": 1, "f": 0.6},
              {"video_id": "f2", "original": "r1", "label": 1, "f": 0.2},
              {"video_id": "f3", "original": "f3", "label": 1, "f": 0.9}]  # no original: not a pair
    pairs = shortcut_pairs(ByFeature(), ("f",), videos)
    assert (pairs["n"], pairs["fake_above_original"]) == (2, 1)
    assert [p["fake"] for p in pairs["pairs"]] == ["f1", "f2"]
