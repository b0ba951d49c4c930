"""Detector folders: `deepfake-ssat export` writes safetensors + config.json + a model card, and the folder
(or a hub id of one) loads wherever a checkpoint does, scores exactly like the .pt, and is read without
unpickling anything."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ssat_helpers import face_frames, sample_paths, trained_checkpoint, write_video

from deepfake_ssat.checkpoint import read_checkpoint
from deepfake_ssat.cli import main
from deepfake_ssat.inference import Predictor


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return trained_checkpoint(tmp_path_factory.getbasetemp() / "ssat_ckpt")


@pytest.fixture(scope="module")
def folder(ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("detectors") / "sample-detector"
    assert main(["export", str(ckpt), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("export_media") / "one.mp4", face_frames(24, faces=1))


def test_export_writes_weights_config_and_model_card(ckpt, folder):
    from safetensors.torch import load_file

    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert len({p.stat().st_mode for p in folder.iterdir()}) == 1  # the weights as readable as the rest
    original = read_checkpoint(ckpt)
    weights = load_file(str(folder / "model.safetensors"))
    assert weights.keys() == original["model"].keys()
    assert all(torch.equal(weights[k], original["model"][k]) for k in weights)
    doc = json.loads((folder / "config.json").read_text())
    assert doc["format"] == "deepfake-ssat-detector" and doc["architecture"] == original["arch"]
    assert doc["data_config"]["threshold"] == pytest.approx(original["data_config"]["threshold"])
    assert doc["data_config"]["faces"] == original["data_config"]["faces"]
    assert doc["config"]["model"]["name"] == "test_videomae" and doc["validation"]["metrics"] == original["metrics"]
    assert doc["test"], "best.pt carries its run's test metrics"
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: deepfake-ssat\n")
    for section in ("## Model", "## Training data", "## Validation", "## What it was not trained on",
                    "## Intended use and limits", "## Use"):
        assert section in card
    assert f"{original['data_config']['threshold']:.4f}" in card
    assert "SAMPLE DATA made by preprocessing.sample" in card  # the sample-trained model says what it is
    assert "any manipulation other than dfdc:" in card  # the sample DFDC tree names its one fake method dfdc


def test_a_folder_scores_exactly_like_its_checkpoint(ckpt, folder, video, tmp_path, capsys):
    _, faces = sample_paths()
    scores = {}
    for name, source in (("pt", ckpt), ("folder", folder)):
        out = tmp_path / name
        assert main(["eval", "--checkpoint", str(source), "--data-root", str(faces), "--out", str(out),
                     "--device", "cpu", "--precision", "fp32"]) == 0
        with open(out / "predictions.csv", newline="") as f:
            scores[name] = {r["video_id"]: r["fake_probability"] for r in csv.DictReader(f)}
    capsys.readouterr()
    assert scores["folder"] == scores["pt"] and scores["pt"]
    a = Predictor.from_checkpoint(ckpt, device="cpu").predict(video)
    b = Predictor.from_checkpoint(folder, device="cpu")
    assert b.predict(video).score == a.score
    info = b.describe()
    assert info["checkpoint"] == "sample-detector" and info["test"] and "SAMPLE DATA" in info["trained_on"]


def test_loading_a_folder_never_unpickles(folder, video, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a detector folder was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    pred = Predictor.from_checkpoint(folder, device="cpu").predict(video)
    assert pred.verdict in ("real", "fake")


def test_model_init_takes_a_folder(folder):
    from deepfake_ssat.models import create_model
    from deepfake_ssat.models.convert import load_weights

    model = create_model("test_videomae", mode="scratch")
    report = load_weights(model, folder)
    assert report.source_format == "deepfake-ssat" and not report.missing
    exported = read_checkpoint(folder)["model"]
    own = model.state_dict()
    assert all(torch.equal(own[k], exported[k]) for k in own if k in exported)


def test_a_hub_id_loads_through_huggingface_hub(folder, monkeypatch):
    """No network here: the hub's downloads return the local folder's files, as its cache would."""
    import huggingface_hub

    asked = []

    def hf_hub_download(repo_id, filename, **kw):
        asked.append((repo_id, filename))
        return str(folder / filename)

    def snapshot_download(repo_id, allow_patterns=None, **kw):
        asked.append((repo_id, tuple(allow_patterns)))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    ckpt = read_checkpoint("someone/sample-detector")
    assert asked[0] == ("someone/sample-detector", "config.json")  # the config first, then the weights
    assert "model.safetensors" in asked[1][1]
    assert ckpt["arch"]["embed_dim"] == 32 and ckpt["detector_folder"] == str(folder)


def test_a_foreign_hub_repo_is_refused_before_its_weights(tmp_path, monkeypatch):
    import huggingface_hub

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "videomae"}))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo_id, filename, **kw: str(tmp_path / filename))

    def no_weights(*a, **kw):
        raise AssertionError("the weights were fetched")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_weights)
    with pytest.raises(ValueError, match="is not a deepfake-ssat detector"):
        read_checkpoint("MCG-NJU/videomae-base")


def test_what_counts_as_a_hub_id(tmp_path, monkeypatch):
    from deepfake_ssat.detector_folder import is_hub_id

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert is_hub_id("someone/detector") and is_hub_id("MCG-NJU/videomae-base")
    for path in ("runs/not_yet", "./x/y", "../x", "run1/last.pt", "a/b.safetensors", "model", "a/b/c"):
        assert not is_hub_id(path), path


def test_an_unreachable_hub_id_is_one_line(monkeypatch, tmp_path, capsys):
    import huggingface_hub

    def offline(repo_id, *a, **kw):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your connection.")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(write_video(tmp_path / "v.mp4", face_frames(8))), "--checkpoint",
                 "nobody/detector"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nobody/detector is no local path" in err and "OSError" in err


def test_a_missing_local_checkpoint_is_not_looked_up_on_the_hub(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    def network(*a, **kw):
        raise AssertionError("a local path went to the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", network)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(["eval", "--checkpoint", "runs/best.pt"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_resume_from_a_detector_folder_is_one_line(folder, capsys):
    assert main(["train", "--resume", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no optimiser state" in err


def test_export_refuses_what_it_cannot_do_in_one_line(ckpt, folder, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    not_ckpt = tmp_path / "weights.pt"
    not_ckpt.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"model_type": "videomae"}))
    (foreign / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    cases = [
        (["export", str(ckpt), str(busy)], "is not empty"),
        (["export", str(not_ckpt), str(tmp_path / "out")], "is not a PyTorch checkpoint file"),
        (["export", str(folder), str(tmp_path / "again")], "is already a detector folder"),
        (["eval", "--checkpoint", str(foreign)], "is not a deepfake-ssat detector folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert (busy / "notes.txt").read_text() == "mine" and not (tmp_path / "out").exists()
    assert main(["export", str(ckpt), str(busy), "--overwrite"]) == 0
    assert (busy / "notes.txt").exists() and (busy / "model.safetensors").is_file()


def test_a_damaged_weights_file_is_one_line(folder, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert main(["eval", "--checkpoint", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged or not a safetensors file" in err


def test_the_demo_loads_a_folder(folder, ckpt, video):
    import socket

    from app.demo import DemoApp, DemoSettings, launch

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launch(str(folder), DemoSettings(examples=[]), port=port, block=False).close()  # the command's loading path
    by_folder = DemoApp(Predictor.from_checkpoint(folder, device="cpu"), DemoSettings()).analyse(str(video))[-1]
    by_pt = DemoApp(Predictor.from_checkpoint(ckpt, device="cpu"), DemoSettings()).analyse(str(video))[-1]
    assert np.isclose(by_folder.score, by_pt.score)


def test_overwrite_swaps_the_whole_folder_or_nothing(ckpt, tmp_path, monkeypatch):
    """--overwrite writes the new detector beside the old and swaps folders: a failure half way leaves the
    old detector whole (no new weights beside an old config) and no temporary folder behind."""
    import safetensors.torch

    from deepfake_ssat.export import export_detector

    out = export_detector(ckpt, tmp_path / "det")
    (out / "notes.txt").write_text("mine")
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        export_detector(ckpt, out, name="other", overwrite=True)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det"]
    monkeypatch.undo()
    export_detector(ckpt, out, name="other", overwrite=True)
    assert "other" in (out / "README.md").read_text() and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det"]
    assert oct((out / "model.safetensors").stat().st_mode & 0o777) == oct((out / "config.json").stat().st_mode & 0o777)
