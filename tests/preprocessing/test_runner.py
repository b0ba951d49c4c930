"""Dataset runs: reason rows, resume, retry, sharding, reuse of originals' tracks, time limit."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import preprocessing.runner as runner
from preprocessing import read_clip, read_manifest, run_preprocess
from preprocessing.manifest import COLUMNS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder_tree(tmp_path, media, place):
    root = tmp_path / "raw"
    place(media["face"], root / "real" / "face.mp4")
    place(media["blank"], root / "real" / "blank.mp4")
    place(media["corrupt"], root / "fake" / "corrupt.mp4")
    place(media["face2"], root / "fake" / "face2.mp4")
    (root / "list.csv").write_text(
        "path,label,split\nreal/face.mp4,0,train\nreal/blank.mp4,0,train\nfake/corrupt.mp4,1,val\n"
        "fake/face2.mp4,1,test\nfake/absent.mp4,1,train\n"
    )
    return root


def status_of(rows):
    return {r["video_id"]: r["status"] for r in rows}


def test_reason_rows_for_every_video_without_faces(folder_tree, tmp_path, make_cfg):
    cfg = make_cfg(folder_tree, tmp_path / "out", csv="list.csv")
    manifest = run_preprocess(cfg)
    assert manifest == tmp_path / "out" / "manifest.jsonl"
    rows = read_manifest(manifest)
    st = status_of(rows)
    assert st["folder/real/face.mp4"] == st["folder/fake/face2.mp4"] == "ok"
    assert st["folder/real/blank.mp4"] == "no_face"
    assert st["folder/fake/corrupt.mp4"].startswith("decode_error: ")
    assert st["folder/fake/absent.mp4"] == "missing_file"
    assert len(rows) == 5
    for r in rows:
        assert set(r) == set(COLUMNS)
        if r["status"] == "ok":
            clip = read_clip(manifest.parent / r["clip"])
            assert clip.shape == (r["num_frames"], 64, 64, 3) == (len(r["frame_indices"]), 64, 64, 3)
            assert r["track"] == 0 and r["fps"] == pytest.approx(25.0) and r["det_score"] > 0.95
        else:
            assert r["track"] is None and r["clip"] is None and r["num_frames"] == 0


def test_resume_skips_finished_and_retries_failed_on_request(folder_tree, tmp_path, make_cfg, monkeypatch):
    cfg = make_cfg(folder_tree, tmp_path / "out", csv="list.csv")
    first = read_manifest(run_preprocess(cfg))
    seen = []
    real = runner.process_video
    monkeypatch.setattr(runner, "process_video", lambda e, c, o: seen.append(e.video_id) or real(e, c, o))
    assert read_manifest(run_preprocess(cfg)) == first
    assert seen == []  # nothing redone
    cfg.retry_failed = True
    assert read_manifest(run_preprocess(cfg)) == first
    assert sorted(seen) == ["folder/fake/absent.mp4", "folder/fake/corrupt.mp4"]  # no_face/ok are final
    # other face settings in the same output folder are refused
    cfg.faces.margin = 1.5
    with pytest.raises(runner.OutputMismatchError, match="faces"):
        run_preprocess(cfg)


def test_sharded_run_equals_single_run(folder_tree, tmp_path, make_cfg):
    single = read_manifest(run_preprocess(make_cfg(folder_tree, tmp_path / "one", csv="list.csv")))
    cfg = make_cfg(folder_tree, tmp_path / "two", csv="list.csv")
    assert run_preprocess(cfg, rank=1, world_size=2) == tmp_path / "two" / "manifest.jsonl"
    assert not (tmp_path / "two" / "manifest.jsonl").exists()  # only rank 0 merges
    journals = {p.name: len(p.read_text().splitlines()) for p in (tmp_path / "two" / ".state").glob("journal-*")}
    assert journals == {"journal-rank1.jsonl": 2}
    sharded = read_manifest(run_preprocess(cfg, rank=0, world_size=2))
    assert sharded == single
    assert not list((tmp_path / "two" / ".state").glob("done-rank*"))


@pytest.mark.slow
def test_torchrun_env_ranks_in_parallel_processes(folder_tree, tmp_path, make_cfg):
    """Two real processes with the variables torchrun sets; rank 0 waits and merges. Rank 1 starts late
    and an interrupted earlier run left its done marker: rank 0 must not take that marker as rank 1's."""
    single = read_manifest(run_preprocess(make_cfg(folder_tree, tmp_path / "one", csv="list.csv")))
    out = tmp_path / "two"
    (out / ".state").mkdir(parents=True)
    (out / ".state" / "done-rank1").write_text("{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import os, time; time.sleep(5 * int(os.environ['RANK']));"
        "from preprocessing import PreprocessConfig, run_preprocess;"
        f"c = PreprocessConfig(dataset='folder', root={str(folder_tree)!r}, out={str(out)!r}, csv='list.csv',"
        " workers=0, progress=False, threads_per_worker=1);"
        "c.faces.size = 64; c.faces.tracker.min_frames = 8; c.faces.detector.min_face_size = 32;"
        "c.faces.detector.every = 8;"
        "run_preprocess(c)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2", "PYTHONPATH": str(REPO),
                 "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)},
        )
        for r in (0, 1)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    assert read_manifest(out / "manifest.jsonl") == single


def dfdc_tree(root: Path, media, place) -> Path:
    part = root / "dfdc_train_part_0"
    place(media["face"], part / "real.mp4")
    place(media["face2"], part / "fake1.mp4")
    place(media["blank"], part / "fake2.mp4")
    meta = {
        "real.mp4": {"label": "REAL", "split": "train"},
        "fake1.mp4": {"label": "FAKE", "split": "train", "original": "real.mp4"},
        "fake2.mp4": {"label": "FAKE", "split": "train", "original": "real.mp4"},
        "lone.mp4": {"label": "FAKE", "split": "train", "original": "elsewhere.mp4"},
    }
    (part / "metadata.json").write_text(json.dumps(meta))
    return root


def test_fakes_reuse_their_originals_tracks(tmp_path, media, place, make_cfg):
    root = dfdc_tree(tmp_path / "raw", media, place)
    out = tmp_path / "out"
    rows = read_manifest(run_preprocess(make_cfg(root, out, dataset="dfdc")))
    by = {r["video_id"].split("/")[-1]: r for r in rows}
    assert by["lone.mp4"]["status"] == "missing_file"
    real, f1, f2 = by["real.mp4"], by["fake1.mp4"], by["fake2.mp4"]
    assert real["status"] == f1["status"] == f2["status"] == "ok"  # even the blank "fake": same geometry
    assert real["frame_indices"] == f1["frame_indices"]
    assert f2["frame_indices"] == real["frame_indices"][:16]  # the blank video is 8 frames shorter
    assert f1["original"] == real["video_id"] and f1["split"] == real["split"]
    assert (f1["det_score"], f1["face_size"]) == (real["det_score"], real["face_size"])
    # every track's clip holds its landmarks, the fakes' taken from the original's geometry like the boxes
    from preprocessing.clips import read_landmarks

    for r in (real, f1, f2):
        lms = read_landmarks(out / r["clip"])
        assert r["landmarks"] and lms.shape == (r["num_frames"], 5, 2)
    assert np.allclose(read_landmarks(out / f1["clip"]), read_landmarks(out / real["clip"]), atol=0.05)  # 0.01 px json
    # detection ran once: only the original has a track file; the journal says the fakes reused it
    assert [p.name for p in (out / "tracks").rglob("*.json")] == ["real.mp4.json"]
    records = [json.loads(line) for line in (out / ".state" / "journal-rank0.jsonl").read_text().splitlines()]
    assert {r["video_id"].split("/")[-1]: r.get("reused") for r in records if r.get("reused") is not None} == {
        "real.mp4": False,
        "fake1.mp4": True,
        "fake2.mp4": True,
    }


def test_a_folder_fake_made_from_a_real_video_is_detected_on_its_own(tmp_path, media, place, make_cfg):
    """A CSV's ``original`` links the two, but a fake made elsewhere may be trimmed or re-timed: its faces are
    found in its own frames, not cut at its original's boxes."""
    root = tmp_path / "raw"
    place(media["face"], root / "real" / "face.mp4")
    place(media["blank"], root / "fake" / "blank.mp4")  # would get the face's boxes if it reused them
    (root / "v.csv").write_text("path,label,method,original\nreal/face.mp4,real,real,\n"
                                "fake/blank.mp4,fake,lipsync,real/face.mp4\n")
    rows = {r["video_id"]: r for r in read_manifest(run_preprocess(make_cfg(root, tmp_path / "out", csv="v.csv")))}
    assert rows["folder/fake/blank.mp4"]["original"] == "folder/real/face.mp4"
    assert rows["folder/fake/blank.mp4"]["identity"] == rows["folder/real/face.mp4"]["identity"]
    assert rows["folder/fake/blank.mp4"]["status"] == "no_face" and rows["folder/real/face.mp4"]["status"] == "ok"


def test_worker_processes_give_the_in_process_manifest(folder_tree, tmp_path, make_cfg):
    single = read_manifest(run_preprocess(make_cfg(folder_tree, tmp_path / "one", csv="list.csv")))
    cfg = make_cfg(folder_tree, tmp_path / "pool", csv="list.csv", workers=2, threads_per_worker=1)
    pooled = read_manifest(run_preprocess(cfg))
    # other torch thread counts may move float scores in the last digits; everything else is identical
    floats = ("det_score", "face_size")
    assert [{k: v for k, v in r.items() if k not in floats} for r in pooled] == [
        {k: v for k, v in r.items() if k not in floats} for r in single
    ]
    for a, b in zip(pooled, single, strict=True):
        assert a["det_score"] == pytest.approx(b["det_score"], abs=1e-3)


def test_time_limit_cuts_a_video_and_the_run_goes_on(folder_tree, tmp_path, make_cfg):
    # a worker process and a limit no video can meet (model loading alone takes longer)
    cfg = make_cfg(folder_tree, tmp_path / "out", csv="list.csv", workers=1, timeout=0.05, threads_per_worker=1)
    rows = read_manifest(run_preprocess(cfg))
    st = status_of(rows)
    assert len(st) == 5 and "timeout" in st.values()
    assert st["folder/fake/absent.mp4"] in ("missing_file", "timeout")


def test_limit_takes_whole_groups_first(tmp_path, media, place, make_cfg):
    root = dfdc_tree(tmp_path / "raw", media, place)
    rows = read_manifest(run_preprocess(make_cfg(root, tmp_path / "out", dataset="dfdc", limit=3)))
    # groups in id order (lone.mp4 is its own group), each original first: fake2.mp4 is cut off
    assert sorted(r["video_id"].split("/")[-1] for r in rows) == ["fake1.mp4", "lone.mp4", "real.mp4"]
