"""End-to-end training on tiny data: checkpoints, resume equivalence, torchrun, bad input."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deepfake_ssat.checkpoint import read_checkpoint
from deepfake_ssat.cli import main
from deepfake_ssat.config import load_config
from deepfake_ssat.train import evaluate_checkpoint, train

REPO = Path(__file__).resolve().parents[1]


def tiny_cfg(data: Path, out: Path, **extra) -> list[str]:
    base = {
        "data.dataset": "fashion_mnist", "data.root": str(data), "data.num_workers": 0, "data.randaugment": "null",
        "data.reprob": 0, "model.name": "test_vit", "model.img_size": 28, "model.patch_size": 7,
        "model.mode": "ssat", "train.epochs": 3, "train.batch_size": 16, "train.warmup_epochs": 1,
        "train.output_dir": str(out), "train.log_every": 2, "eval.batch_size": 64, "train.device": "cpu",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture(scope="module")
def idx_data(tmp_path_factory, make_idx_dataset) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("fmnist"))


def test_tiny_run_writes_checkpoints_config_and_metrics(idx_data, tmp_path):
    out = tmp_path / "run"
    summary = train(load_config(overrides=tiny_cfg(idx_data, out)))
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    saved = load_config(out / "config.yaml")
    assert saved.train.epochs == 3 and saved.model.name == "test_vit"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all("val_top1" in r and "val_loss_rec" in r for r in rows)
    ckpt = read_checkpoint(out / "best.pt")
    assert ckpt["data_config"]["input_size"] == [3, 28, 28] and len(ckpt["data_config"]["class_names"]) == 10
    assert "optimizer" not in ckpt  # best holds what inference needs, last what resume needs
    assert "optimizer" in read_checkpoint(out / "last.pt")
    assert summary["best_epoch"] in (1, 2, 3) and "top1" in summary["test_best"]
    assert summary["device_hours"] > 0
    # the training curves are drawn when the run ends, and again on demand
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "curves.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "curves.png").stat().st_size > 5000
    # evaluation of the saved checkpoint reproduces the summary's test accuracy
    report = evaluate_checkpoint(out / "best.pt", device="cpu")
    assert report["overall"]["top1"] == pytest.approx(summary["test_best"]["top1"])


def test_a_format_1_checkpoint_still_loads_and_evaluates(idx_data, tmp_path):
    """Checkpoints written before the config became the one model declaration kept the SSAT and loss
    options together in ``model_kwargs``; they rebuild the same model and give the same metrics."""
    from deepfake_ssat.checkpoint import model_from_checkpoint

    out = tmp_path / "run"
    weights = "[" + ", ".join(["2"] + ["1"] * 9) + "]"
    train(load_config(overrides=tiny_cfg(idx_data, out, **{"train.epochs": 1, "train.class_weights": weights})))
    new = torch.load(out / "best.pt", weights_only=True)
    m = new["config"]["model"]
    old = {k: v for k, v in new.items() if k != "loss"}
    old["format_version"] = 1
    old["model_kwargs"] = {"mode": m["mode"], "mask_ratio": m["mask_ratio"], "lambda_cls": m["lambda_cls"],
                           "target_norm": m["target_norm"], "drop_path": m["drop_path"],
                           "grad_checkpointing": m["grad_checkpointing"], "decoder_keep_ratio": m["decoder_keep_ratio"],
                           **new["loss"]}
    torch.save(old, tmp_path / "old.pt")
    a = model_from_checkpoint(read_checkpoint(out / "best.pt"), with_decoder=True)
    b = model_from_checkpoint(read_checkpoint(tmp_path / "old.pt"), with_decoder=True)
    assert b.class_weights.tolist() == a.class_weights.tolist() == [2.0] + [1.0] * 9
    assert (b.mode, b.mask_ratio, b.label_smoothing) == (a.mode, a.mask_ratio, a.label_smoothing)
    assert evaluate_checkpoint(tmp_path / "old.pt", device="cpu") == evaluate_checkpoint(out / "best.pt", device="cpu")


def test_interrupted_and_resumed_run_matches_uninterrupted(idx_data, tmp_path):
    full = train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "full")))
    # Stop after the first epoch (the schedule still spans all 3), then resume.
    cut = tiny_cfg(idx_data, tmp_path / "cut", **{"train.max_steps": 6})  # 110 images / 16 = 6 steps per epoch
    train(load_config(overrides=cut))
    assert read_checkpoint(tmp_path / "cut" / "last.pt")["state"]["epoch"] == 1
    cfg = load_config(tmp_path / "cut" / "config.yaml", overrides=["train.max_steps=null"])
    resumed = train(cfg, resume=tmp_path / "cut" / "last.pt")
    a = read_checkpoint(tmp_path / "full" / "last.pt")
    b = read_checkpoint(tmp_path / "cut" / "last.pt")
    losses_a = [h["train_loss"] for h in a["state"]["history"]]
    losses_b = [h["train_loss"] for h in b["state"]["history"]]
    assert losses_a == pytest.approx(losses_b, abs=1e-6)
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    assert resumed["steps"] == full["steps"]


def test_mid_epoch_resume_gives_identical_weights(idx_data, tmp_path, monkeypatch):
    import deepfake_ssat.engine as engine

    extra = {"train.epochs": 2, "train.save_every_steps": 2}
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "full", **extra)))

    real_step, calls = engine.train_step, {"n": 0}

    def crash_after_three(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # killed mid-epoch, after the step-2 checkpoint and one more step
        return real_step(*a, **k)

    monkeypatch.setattr(engine, "train_step", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "cut", **extra)))
    monkeypatch.setattr(engine, "train_step", real_step)
    state = read_checkpoint(tmp_path / "cut" / "last.pt")["state"]
    assert (state["epoch"], state["batch_in_epoch"]) == (0, 2)
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "cut", **extra)), resume=tmp_path / "cut")
    a, b = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "cut" / "last.pt")
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_train_and_write_one_checkpoint(idx_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "deepfake_ssat.cli", "train"]
    for item in tiny_cfg(idx_data, out, **{"train.epochs": 1}):
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "rank 1/2" in res.stderr and sorted(p.name for p in out.glob("*.pt")) == ["best.pt", "last.pt"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1  # rank 0 alone writes
    # 120 train images minus a 10 % validation hold-out = 110; 2 ranks × batch 16 → 3 steps per epoch
    assert rows[0]["step"] == 3


@pytest.mark.parametrize("mode", ["scratch", "pretrain"])
def test_other_modes_train(idx_data, tmp_path, mode):
    cfg = load_config(overrides=tiny_cfg(idx_data, tmp_path / mode, **{"train.epochs": 1, "model.mode": mode}))
    summary = train(cfg)
    assert summary["best_metric"] == ("loss_rec" if mode == "pretrain" else "top1")
    # pretrain selects by loss_rec without rewriting the validated config, in memory or on disk
    assert cfg.eval.metric == load_config(tmp_path / mode / "config.yaml").eval.metric == "top1"


def test_finetune_from_pretrain_checkpoint(idx_data, tmp_path):
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "pre", **{"train.epochs": 1, "model.mode": "pretrain"})))
    ft_cfg = tiny_cfg(idx_data, tmp_path / "ft", **{"train.epochs": 1, "model.mode": "finetune"})
    rc = main(["train", *sum((["--set", s] for s in ft_cfg), []), "--init", str(tmp_path / "pre" / "best.pt")])
    assert rc == 0
    ft = read_checkpoint(tmp_path / "ft" / "best.pt")
    assert not any(k.startswith("decoder.") for k in ft["model"])


def test_schedule_warms_up_then_anneals_to_min_lr_at_the_last_step():
    from deepfake_ssat.models import create_model
    from deepfake_ssat.train import optimizer_and_schedule

    cfg = load_config(overrides=["train.epochs=10", "train.warmup_epochs=2", "train.lr=1e-3", "train.min_lr=1e-6",
                                 "train.layer_decay=null", "train.lr_base_batch=256", "train.batch_size=64"])
    model = create_model("test_vit", mode="scratch", num_classes=10, img_size=28, patch_size=7)
    optimizer, scheduler, lr = optimizer_and_schedule(cfg, model, world_size=4, per_epoch=5)
    assert lr == pytest.approx(1e-3)  # 1e-3 · (64 · 4) / 256

    def lr_at(step):
        scheduler.step_update(step)
        return optimizer.param_groups[0]["lr"]

    peak, low = 1e-3, 1e-6
    assert lr_at(0) == pytest.approx(low)
    assert lr_at(5) == pytest.approx((low + peak) / 2)  # halfway through the 10 warmup steps
    assert lr_at(10) == pytest.approx(peak)
    assert lr_at(30) == pytest.approx(low + 0.5 * (peak - low))  # half of the 40 cosine steps
    assert lr_at(50) == pytest.approx(low)  # the run's last step


def test_cli_errors_are_one_line(idx_data, tmp_path, capsys):
    assert main(["train", "--dataset", "imagenet21k", "--set", "train.device=cpu"]) == 2
    assert "unknown dataset 'imagenet21k'" in capsys.readouterr().err
    assert main(["train", "--dataset", "fashion_mnist", "--data-root", str(tmp_path / "nowhere"),
                 "--set", "train.device=cpu"]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST IDX files not found" in err and "apt-get install dataset-fashion-mnist" in err
    # a checkpoint from another model
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "a", **{"train.epochs": 1, "model.mode": "scratch"})))
    args = ["train", *sum((["--set", s] for s in tiny_cfg(idx_data, tmp_path / "b", **{"train.epochs": 1})), []),
            "--init", str(tmp_path / "a" / "best.pt"), "--set", "model.patch_size=4"]
    assert main(args) == 2
    assert "different architecture" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def _bad_checkpoints(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.pt"
    torch.save({"weights": torch.zeros(3)}, good)
    data = good.read_bytes()
    files = {"empty": b"", "text": b"hello, this is not a checkpoint\n", "truncated": data[: len(data) // 2]}
    out = {}
    for name, content in files.items():
        (tmp_path / f"{name}.pt").write_bytes(content)
        out[name] = tmp_path / f"{name}.pt"
    out["foreign"] = good  # a PyTorch dict of another project
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "objects.pt")  # a pickled module: never loaded
    out["objects"] = tmp_path / "objects.pt"
    return out


@pytest.mark.parametrize(("kind", "says"), [
    ("empty", "is empty (0 bytes), not a checkpoint"),
    ("text", "is not a PyTorch checkpoint file"),
    ("truncated", "is a PyTorch file that is truncated or damaged"),
    ("foreign", "is a PyTorch file but not a deepfake-ssat checkpoint (it holds weights)"),
    ("objects", "holds Python objects besides tensors"),
])
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_a_file_that_is_not_a_checkpoint_gets_one_line(tmp_path, capsys, kind, says, command):
    path = _bad_checkpoints(tmp_path)[kind]
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")  # never reached: the checkpoint is read first
    args = ["eval", "--checkpoint", str(path)] if command == "eval" else ["predict", str(video), "--checkpoint",
                                                                          str(path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path} ") and says in err[0], err
    assert "weights_only" not in err[0] and "best.pt or last.pt" in err[0]


def test_the_epoch_log_says_when_there_was_no_validation(idx_data, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="deepfake_ssat.engine")
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "r", **{"eval.every_epochs": 2})))
    lines = [m for m in (r.getMessage() for r in caplog.records) if m.startswith("epoch ") and "train loss" in m]
    assert len(lines) == 3 and "(no validation this epoch)" in lines[0]
    assert all("top1 " in line and "  val " in line for line in lines[1:]) and not any("val {}" in x for x in lines)


def test_a_step_budget_ends_mid_epoch_with_the_schedule_at_its_end(idx_data, tmp_path):
    # 110 images / batch 16 = 6 steps per epoch: 8 steps are one epoch and 2 steps of the next
    extra = {"train.epochs": "null", "train.steps": 8, "train.warmup_steps": 2, "train.lr": 1e-3,
             "train.min_lr": 1e-6, "train.layer_decay": "null"}
    summary = train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "run", **extra)))
    assert (summary["steps"], summary["epochs"], summary["stop_reason"]) == (8, 2, "budget")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [6, 8] and all("val_top1" in r for r in rows)
    assert rows[-1]["lr"] == pytest.approx(1e-6)  # the cosine reached min_lr at the budget's last step
    assert summary["best_step"] in (6, 8)


def test_the_budget_is_epochs_or_steps_not_both():
    from deepfake_ssat.config import ConfigError

    with pytest.raises(ConfigError, match=r"train\.epochs: the budget is epochs or steps, set one and null the other"):
        load_config(overrides=["train.steps=100"])  # the default budget is 100 epochs
    assert load_config("video/sample").train.steps == 500
    with pytest.raises(ConfigError, match="set one and null the other"):
        load_config("video/sample", overrides=["train.epochs=3"])
    assert load_config("video/sample", overrides=["train.epochs=3", "train.steps=null"]).train.epochs == 3


def test_early_stopping_ends_the_run_and_resume_keeps_its_count(idx_data, tmp_path, caplog):
    # lr 1e-9: the weights barely move, so validation never improves after the first epoch
    caplog.set_level(logging.INFO, logger="deepfake_ssat")
    extra = {"train.epochs": 10, "train.lr": 1e-9, "train.min_lr": 0, "train.patience": 3}
    full = train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "full", **extra)))
    assert (full["stop_reason"], full["epochs"], full["best_epoch"]) == ("patience", 4, 1)
    assert "early stop at step 24 (epoch 4): validation top1 has not improved for 3 validations" in caplog.text
    # the same run cut after two epochs and resumed: it stops at the same epoch
    train(load_config(overrides=tiny_cfg(idx_data, tmp_path / "cut", **extra, **{"train.max_steps": 12})))
    assert read_checkpoint(tmp_path / "cut" / "last.pt")["state"]["stale_evals"] == 1
    cfg = load_config(tmp_path / "cut" / "config.yaml", overrides=["train.max_steps=null"])
    resumed = train(cfg, resume=tmp_path / "cut")
    assert (resumed["stop_reason"], resumed["epochs"], resumed["steps"]) == ("patience", 4, 24)
