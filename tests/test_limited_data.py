"""The limited-data image benchmark (scratch vs SSAT vs pre-training → fine-tuning) on tiny IDX data."""

from __future__ import annotations

import json

import pytest
import yaml

import deepfake_ssat.train as train_module
from deepfake_ssat.cli import main
from deepfake_ssat.config import load_config
from deepfake_ssat.protocols.limited_data import ROWS, run_limited_data


def tiny_base(data) -> dict:
    return {
        "model": {"name": "test_vit", "img_size": 28, "patch_size": 7},
        "data": {"dataset": "fashion_mnist", "root": str(data), "num_workers": 0, "randaugment": None, "reprob": 0,
                 "mixup": 0, "cutmix": 0, "train_per_class": 6},
        "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0, "layer_decay": None, "device": "cpu"},
        "eval": {"batch_size": 64},
    }


def test_every_row_trains_on_the_same_subset_and_a_rerun_trains_nothing(tmp_path, make_idx_dataset, monkeypatch):
    data = make_idx_dataset(tmp_path / "fmnist")
    out = tmp_path / "bench"
    results = run_limited_data(load_config(tiny_base(data)), out)
    assert [r["row"] for r in results] == list(ROWS)
    assert all(r["test_best"] is not None and 0 <= r["test_best"] <= 100 for r in results)
    for mode in ("scratch", "ssat", "pretrain", "finetune"):
        saved = load_config(out / f"{mode}_s0" / "config.yaml")
        assert saved.model.mode == mode and saved.data.train_per_class == 6 and saved.train.seed == 0
    assert load_config(out / "finetune_s0" / "config.yaml").model.init == str(out / "pretrain_s0" / "best.pt")
    table = (out / "table.md").read_text()
    assert table.count("\n| ") == 1 + len(ROWS)  # separator + one line per row
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))

    # A rerun reads every finished row back; a row whose summary was lost resumes from last.pt
    # (already at its last epoch, so it only re-tests).
    (out / "ssat_s0" / "summary.json").unlink()
    calls = []
    real_train = train_module.train
    monkeypatch.setattr(train_module, "train", lambda cfg, resume=None: calls.append(resume) or real_train(cfg, resume))
    again = run_limited_data(load_config(tiny_base(data)), out)
    assert calls == [out / "ssat_s0"]
    assert [r["test_best"] for r in again] == pytest.approx([r["test_best"] for r in results])


def test_cli_prints_the_table_and_refuses_video_datasets(tmp_path, make_idx_dataset, capsys):
    data = make_idx_dataset(tmp_path / "fmnist")
    cfg = tmp_path / "base.yaml"
    cfg.write_text(yaml.safe_dump(tiny_base(data)))
    assert main(["benchmark", "limited-data", "--config", str(cfg), "--rows", "scratch", "--seeds", "0", "1",
                 "--out", str(tmp_path / "bench")]) == 0
    out = capsys.readouterr().out
    assert out.count("| scratch | ") == 2 and "mean of 2" in out
    assert main(["benchmark", "limited-data", "--config", "video/sample", "--out", str(tmp_path / "v")]) == 2
    assert "for image datasets" in capsys.readouterr().err
