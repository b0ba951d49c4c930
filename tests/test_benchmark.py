"""The FF++ cross-manipulation benchmark on a generated four-method sample tree."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

import deepfake_ssat.protocols.cross_manipulation as bench
from deepfake_ssat.config import load_config
from deepfake_ssat.configschema import to_dict
from deepfake_ssat.models import get_spec
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
    ckpt = out / "scratch" / "Deepfakes" / "best.pt"
    assert main(["benchmark", "cross-manipulation", "--ffpp", str(ffpp_faces), "--configs", *two_configs,
                 "--out", str(out), "--zero-shot", str(ckpt)]) == 0
    row = next(line for line in (out / "table.md").read_text().splitlines() if line.startswith("| zero-shot: best"))
    assert "–" not in row


def test_each_fold_excludes_its_held_out_method_and_the_test_split(ffpp_faces, tmp_path):
    base = load_config(TINY)
    spec = get_spec("test_videomae")
    for fold in bench.plan_folds([("tiny", base)], ffpp_faces, None, tmp_path):
        task = build_task(fold.cfg, spec)
        methods = {r["method"] for r in task.train_set.rows}
        assert fold.heldout not in methods and methods == {"real"} | (set(bench.METHODS) - {fold.heldout})
        assert {r["split"] for r in task.train_set.rows} == {"train"}
        assert {r["split"] for r in task.val_set.rows} == {"val"}
        bench.check_fold(task, fold.heldout)  # the guard accepts a correct fold


def test_protocol_guard_rejects_a_leaking_fold(ffpp_faces, tmp_path):
    cfg = load_config(TINY, overrides=["data.dataset=ffpp", f"data.root={ffpp_faces}"])  # all methods
    task = build_task(cfg, get_spec("test_videomae"))
    with pytest.raises(bench.ProtocolError, match="Deepfakes videos in the training set"):
        bench.check_fold(task, "Deepfakes")


def test_interrupted_benchmark_resumes_without_redoing_finished_folds(ffpp_faces, two_configs, tmp_path,
                                                                      monkeypatch):
    configs = bench.load_labelled_configs(two_configs[:1])
    out = tmp_path / "bench"
    calls: list[str] = []
    real = bench.run_fold

    def counting(fold, device=None):
        calls.append(fold.heldout)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third fold
        return real(fold, device)

    monkeypatch.setattr(bench, "run_fold", counting)
    with pytest.raises(KeyboardInterrupt):
        bench.run_benchmark(configs, ffpp_faces, out)
    assert len(list(out.rglob("result.json"))) == 2
    calls.clear()
    monkeypatch.setattr(bench, "run_fold", lambda f, d=None: (calls.append(f.heldout), real(f, d))[1])
    results = bench.run_benchmark(configs, ffpp_faces, out)
    assert calls == ["FaceSwap", "NeuralTextures"]  # only the unfinished folds ran
    assert len(results) == 4


def test_fold_config_starts_from_init_unless_the_configuration_has_weights(tmp_path):
    base = load_config(TINY)
    cfg = bench.fold_config(base, tmp_path, "Face2Face", "dfdc.pt", tmp_path / "f")
    assert cfg.model.init == "dfdc.pt" and cfg.data.methods == ["real", "Deepfakes", "FaceSwap", "NeuralTextures"]
    own = load_config(to_dict(base), overrides=["model.init=ssl.pt"])
    assert bench.fold_config(own, tmp_path, "Face2Face", "dfdc.pt", tmp_path / "f").model.init == "ssl.pt"
