"""Sample DFDC tree → preprocess → train a tiny video SSAT model → evaluate; and its bad inputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ssat_helpers import sample_faces

from deepfake_ssat.checkpoint import model_from_checkpoint, read_checkpoint
from deepfake_ssat.cli import main
from deepfake_ssat.config import load_config
from deepfake_ssat.metrics import track_scores, video_scores
from deepfake_ssat.tasks import build_task
from deepfake_ssat.train import train
from preprocessing.manifest import read_settings, write_settings


@pytest.fixture(scope="module")
def dfdc_faces(tmp_path_factory) -> Path:
    # The same preprocessed sample the inference and demo tests use (made once per test run).
    return sample_faces(tmp_path_factory.getbasetemp() / "ssat_ckpt")


def video_cfg(data: Path, out: Path, **extra) -> list[str]:
    base = {
        "data.dataset": "dfdc", "data.root": str(data), "data.num_workers": 0, "model.name": "test_videomae",
        "model.mode": "ssat", "model.mask_ratio": 0.75, "train.epochs": 2, "train.batch_size": 4,
        "train.warmup_epochs": 0, "train.layer_decay": "null", "train.label_smoothing": 0,
        "train.real_weight": "auto", "train.output_dir": str(out), "train.device": "cpu", "eval.metric": "auc",
        "eval.batch_size": 8,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def test_fakes_and_originals_share_a_split(dfdc_faces):
    from preprocessing.manifest import read_manifest

    rows = read_manifest(dfdc_faces / "manifest.jsonl")
    split_of = {r["video_id"]: r["split"] for r in rows}
    fakes = [r for r in rows if r["label"] == 1]
    assert fakes and all(split_of[r["original"]] == r["split"] for r in fakes)
    assert {"train", "val", "test"} <= set(split_of.values())


def test_train_then_evaluate_writes_predictions_and_metrics(dfdc_faces, tmp_path):
    out = tmp_path / "run"
    summary = train(load_config(overrides=video_cfg(dfdc_faces, out)))
    ckpt = read_checkpoint(out / "best.pt")
    dc = ckpt["data_config"]
    assert dc["num_frames"] == 4 and dc["class_names"] == ["real", "fake"] and 0.0 <= dc["threshold"] <= 1.0
    assert dc["faces"]["size"] == 64 and dc["faces"]["margin"] == 1.3
    assert ckpt["loss"]["class_weights"][1] == 1.0  # weight w on the real class only
    assert "auc" in summary["test_best"]
    # the stored threshold is the one validation of these weights chooses, and the test metrics used it
    from deepfake_ssat.runtime import local_runtime

    model = model_from_checkpoint(ckpt)
    task = build_task(load_config(out / "config.yaml"), model.spec)
    assert task.evaluate(model, task.val_set, local_runtime("cpu"), 8, 0).threshold == dc["threshold"]
    assert summary["test_best"]["threshold"] == dc["threshold"]

    rc = main(["eval", "--checkpoint", str(out / "best.pt"), "--out", str(tmp_path / "eval"), "--device", "cpu"])
    assert rc == 0
    with (tmp_path / "eval" / "predictions.csv").open() as f:
        preds = list(csv.DictReader(f))
    assert (tmp_path / "eval" / "roc.png").read_bytes()[:4] == b"\x89PNG"  # the ROC curve with its threshold
    from preprocessing.manifest import read_manifest

    test_videos = {r["video_id"] for r in read_manifest(dfdc_faces / "manifest.jsonl") if r["split"] == "test"}
    assert {p["video_id"] for p in preds} == test_videos  # one row per test video, scored or not
    assert all(int(p["segments"]) >= 1 for p in preds if p["status"] == "ok")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in ("acc", "acc_at_threshold", "auc", "log_loss", "ap", "eer", "tpr_at_fpr1"):
        assert key in metrics["overall"]


def test_segment_and_track_aggregation_equals_hand_computation(dfdc_faces, tmp_path):
    out = tmp_path / "run"
    train(load_config(overrides=video_cfg(dfdc_faces, out, **{"train.epochs": 1})))
    ckpt = read_checkpoint(out / "best.pt")
    model = model_from_checkpoint(ckpt).eval()
    cfg = load_config(out / "config.yaml")
    task = build_task(cfg, model.spec)
    from deepfake_ssat.runtime import setup_runtime

    dataset = task.split_set("test")
    videos = task.predict(model, dataset, setup_runtime("cpu", "fp32"), batch_size=3, num_workers=0)
    # By hand: softmax per segment, mean per track, max per video.
    per_track: dict[int, list[float]] = {}
    with torch.no_grad():
        for i in range(len(dataset)):
            x, _, t = dataset[i]
            p = model(x[None])["logits"].softmax(1)[0, 1].item()
            per_track.setdefault(int(t), []).append(p)
    expected: dict[str, float] = {}
    for t, ps in per_track.items():
        vid = dataset.rows[t]["video_id"]
        expected[vid] = max(expected.get(vid, 0.0), float(np.mean(ps)))
    assert set(videos) == set(expected)
    for vid, v in videos.items():
        assert v["score"] == pytest.approx(expected[vid], abs=1e-5)


def test_aggregation_helpers_on_hand_made_numbers():
    tracks = track_scores([0.2, 0.4, 0.9, 0.7, 0.1], [0, 0, 1, 1, 2])
    assert tracks == {0: (pytest.approx(0.3), 2), 1: (pytest.approx(0.8), 2), 2: (pytest.approx(0.1), 1)}
    videos = video_scores(tracks, ["a", "a", "b"])
    assert videos["a"]["score"] == pytest.approx(0.8) and videos["a"]["tracks"] == 2 and videos["a"]["segments"] == 4
    assert videos["b"]["score"] == pytest.approx(0.1)


def test_bad_inputs_give_clear_messages(dfdc_faces, tmp_path, capsys):
    # no preprocessed data: the message prints the preprocess command
    assert main(["train", *sum((["--set", s] for s in video_cfg(tmp_path / "nothing", tmp_path / "r0")), [])]) == 2
    err = capsys.readouterr().err
    assert "deepfake-ssat preprocess --dataset dfdc" in err
    # empty manifest
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.jsonl").write_text("")
    assert main(["train", *sum((["--set", s] for s in video_cfg(empty, tmp_path / "r1")), [])]) == 2
    assert "is empty" in capsys.readouterr().err
    # manifest from another dataset
    assert main(["train", *sum((["--set", s] for s in video_cfg(dfdc_faces, tmp_path / "r2")), []),
                 "--set", "data.dataset=ffpp"]) == 2
    assert "holds dfdc data, not ffpp" in capsys.readouterr().err
    # clip files missing on disk
    broken = tmp_path / "broken"
    shutil.copytree(dfdc_faces, broken)
    victim = next(p for p in sorted((broken / "clips").rglob("*")) if p.is_file())
    victim.unlink()
    assert main(["train", *sum((["--set", s] for s in video_cfg(broken, tmp_path / "r3")), [])]) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "preprocess" in err


def test_checkpoint_whose_crops_disagree_with_the_data(dfdc_faces, tmp_path, capsys):
    out = tmp_path / "run"
    train(load_config(overrides=video_cfg(dfdc_faces, out, **{"train.epochs": 1})))
    other = tmp_path / "other"
    shutil.copytree(dfdc_faces, other)
    settings = read_settings(other)
    settings["faces"]["margin"] = 1.6
    write_settings(other, settings)
    assert main(["eval", "--checkpoint", str(out / "best.pt"), "--data-root", str(other), "--device", "cpu"]) == 2
    assert "margin 1.3" in capsys.readouterr().err


def test_data_without_validation_videos_names_the_setting(dfdc_faces, tmp_path, capsys):
    from preprocessing.manifest import read_manifest, write_manifest

    no_val = tmp_path / "no_val"
    no_val.mkdir()
    (no_val / "clips").symlink_to(dfdc_faces / "clips")
    write_manifest(no_val / "manifest.jsonl", [{**r, "split": "train" if r["split"] == "val" else r["split"]}
                                               for r in read_manifest(dfdc_faces / "manifest.jsonl")])
    assert main(["train", *sum((["--set", s] for s in video_cfg(no_val, tmp_path / "r")), [])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no usable face tracks for split ['val']" in err and "--val-fraction" in err
