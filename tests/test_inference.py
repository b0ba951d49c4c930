"""Predictor on generated videos (one face, two faces, no face), the segment cap, agreement with
evaluation, the reconstruction view, and `deepfake-ssat predict` on a folder with a corrupt file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ssat_helpers import blank_frames, face_frames, sample_paths, trained_checkpoint, write_video

from deepfake_ssat.cli import main
from deepfake_ssat.data.video import segment_starts
from deepfake_ssat.inference import PredictOptions, Predictor


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return trained_checkpoint(tmp_path_factory.getbasetemp() / "ssat_ckpt")


@pytest.fixture(scope="module")
def predictor(ckpt) -> Predictor:
    return Predictor.from_checkpoint(ckpt, device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inference_media")
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + np.random.default_rng(0).bytes(4000))
    return {
        "one": write_video(d / "one.mp4", face_frames(24, faces=1)),
        "two": write_video(d / "two.mp4", face_frames(24, faces=2)),
        "blank": write_video(d / "blank.mp4", blank_frames(24)),
        "corrupt": corrupt,
    }


def test_one_face(predictor, media):
    calls: list[tuple[float, str]] = []
    pred = predictor.predict(media["one"], progress=lambda f, d: calls.append((f, d)))
    assert pred.verdict in ("real", "fake")
    assert pred.verdict == ("fake" if pred.score >= predictor.threshold else "real")
    assert pred.counts["tracks"] == 1 and pred.counts["frames_read"] == 24
    n = pred.tracks[0].face_frames
    assert n >= 20
    expected = len(segment_starts(n, predictor.num_frames, predictor.clip_stride, predictor.segment_step))
    assert pred.counts["segments"] == len(pred.segments) == expected  # every segment, as evaluation cuts it
    probs = [s.fake_prob for s in pred.segments]
    assert pred.score == pytest.approx(float(np.mean(probs)))  # mean over segments (of softmax, not of logits)
    assert pred.tracks[0].score == pytest.approx(pred.score) and pred.fake_track == 0
    starts = [s.start_s for s in pred.segments]
    assert starts == sorted(starts) and starts[0] == 0.0 and pred.segments[-1].end_s <= pred.duration_s + 1e-6
    assert all(s.end_s > s.start_s for s in pred.segments)
    for key in ("decode", "detect", "track", "crop", "prepare", "model", "total"):
        assert pred.timings[key] >= 0.0
    crops = pred.tracks[0].crops
    assert crops is not None and crops.shape[1:] == (64, 64, 3) and crops.dtype == np.uint8
    assert pred.clip is not None and pred.clip.shape == (predictor.num_frames, predictor.size, predictor.size, 3)
    fracs = [f for f, _ in calls]
    assert fracs == sorted(fracs) and 0.0 <= fracs[0] and fracs[-1] == 1.0
    doc = json.loads(json.dumps(pred.to_dict()))  # JSON-able, without the images
    assert doc["verdict"] == pred.verdict and "crops" not in doc["tracks"][0] and "clip" not in doc


def test_two_faces_video_is_as_fake_as_its_most_fake_face(predictor, media):
    pred = predictor.predict(media["two"])
    assert pred.counts["tracks"] == 2 and pred.counts["tracks_scored"] == 2
    scores = [t.score for t in pred.tracks]
    assert pred.score == pytest.approx(max(scores))
    assert pred.fake_track == int(np.argmax(scores))
    for t in pred.tracks:
        mine = [s.fake_prob for s in pred.segments if s.track == t.index]
        assert len(mine) == t.segments >= 1 and t.score == pytest.approx(float(np.mean(mine)))


def test_no_face_is_inconclusive_without_a_score(predictor, media):
    pred = predictor.predict(media["blank"])
    assert pred.verdict == "inconclusive" and pred.score is None and pred.reason == "no face found"
    assert pred.counts["tracks"] == 0 and pred.segments == [] and pred.clip is None
    assert pred.counts["frames_read"] == 24


def test_too_few_face_frames_is_inconclusive(ckpt, media):
    p = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(min_face_frames=100))
    pred = p.predict(media["one"])
    assert pred.verdict == "inconclusive" and pred.score is None
    assert "too few frames with a face" in pred.reason
    assert pred.tracks[0].skipped and pred.tracks[0].crops is not None  # still shown, not scored


def test_segment_cap_covers_the_whole_track_and_says_so(ckpt, media):
    p = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(max_segments_per_track=2))
    full = Predictor.from_checkpoint(ckpt, device="cpu").predict(media["one"])
    pred = p.predict(media["one"])
    assert full.counts["segments"] > 2
    assert pred.counts["segments"] == 2 and pred.counts["segments_total"] == full.counts["segments"]
    assert pred.segments[0].start_s == full.segments[0].start_s  # first and last segment kept
    assert pred.segments[-1].end_s == full.segments[-1].end_s
    assert any("max_segments_per_track" in n for n in pred.notes)
    assert not any("max_segments_per_track" in n for n in full.notes)


def test_eval_and_predict_give_one_video_the_same_score(ckpt, tmp_path, capsys):
    """`eval` on the preprocessed test set and `predict` on the raw files give every video the same score:
    same faces, same clip store, same segments, same transform, same loop and runtime."""
    import csv

    raw, faces = sample_paths()
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(ckpt), "--data-root", str(faces), "--split", "test", "--out", str(out),
                 "--device", "cpu"]) == 0
    with open(out / "predictions.csv", newline="") as f:
        evaluated = {r["video_id"]: r for r in csv.DictReader(f) if r["status"] == "ok"}
    from preprocessing.manifest import read_manifest

    source = {r["video_id"]: r["source"] for r in read_manifest(faces / "manifest.jsonl")}
    videos = [min(v for v in evaluated if evaluated[v]["label"] == label) for label in ("0", "1")]  # real, fake
    doc = tmp_path / "predict.json"
    assert main(["predict", *(str(raw / source[v]) for v in videos), "--checkpoint", str(ckpt), "--json", str(doc),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    predicted = {r["path"]: r for r in json.loads(doc.read_text())["results"]}
    for v in videos:
        p = predicted[str(raw / source[v])]
        assert p["counts"]["segments"] == int(evaluated[v]["segments"])
        assert p["score"] == pytest.approx(float(evaluated[v]["fake_probability"]), abs=2e-6), v


def _test_rows_only(faces: Path, dest: Path) -> Path:
    """A copy of the preprocessed faces whose manifest says every row is a test video (someone else's
    folder of test videos: no train or val rows)."""
    import shutil

    from preprocessing.manifest import read_manifest

    shutil.copytree(faces, dest)
    rows = read_manifest(faces / "manifest.jsonl")
    (dest / "manifest.jsonl").write_text("".join(json.dumps({**r, "split": "test"}) + "\n" for r in rows))
    return dest


def test_eval_needs_only_the_split_it_scores(ckpt, tmp_path, capsys):
    """Zero-shot evaluation of a folder of test videos: no train or val rows are needed, the threshold is
    the checkpoint's, and every usable video is scored; a split the data lacks is a one-line error."""
    from deepfake_ssat.checkpoint import read_checkpoint
    from preprocessing.manifest import read_manifest

    _, faces = sample_paths()
    only_test = _test_rows_only(faces, tmp_path / "test_only")
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(ckpt), "--data-root", str(only_test), "--split", "test",
                 "--out", str(out), "--device", "cpu"]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    ok_videos = {r["video_id"] for r in read_manifest(faces / "manifest.jsonl") if r["status"] == "ok"}
    assert metrics["overall"]["n"] == len(ok_videos)
    assert metrics["threshold"] == pytest.approx(read_checkpoint(ckpt)["data_config"]["threshold"])

    assert main(["eval", "--checkpoint", str(ckpt), "--data-root", str(only_test), "--split", "val",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no usable face tracks for split ['val']" in err


def test_predict_applies_the_checkpoint_low_pass(ckpt, media):
    """A model trained on low-passed crops (data.lowpass_sigma) is scored on low-passed crops."""
    from deepfake_ssat.checkpoint import read_checkpoint

    ck = read_checkpoint(ckpt)
    assert ck["data_config"]["lowpass_sigma"] == 0.0
    ck["data_config"]["lowpass_sigma"] = 2.0
    blurred = Predictor(ck, device="cpu")
    rows = [{"video_id": "v", "track": 0, "num_frames": 8, "fps": 25.0, "status": "ok", "clip": None, "label": 0,
             "frame_indices": list(range(8))}]
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    assert blurred._segments(rows, [frames]).lowpass_sigma == 2.0
    sharp = Predictor.from_checkpoint(ckpt, device="cpu")
    a, b = sharp.predict(media["one"]), blurred.predict(media["one"])
    assert a.counts["segments"] == b.counts["segments"] and a.score != b.score


def test_reconstruction_view(predictor, media):
    assert predictor.has_decoder
    pred = predictor.predict(media["one"])
    rec = predictor.reconstruction(pred)
    shape = (predictor.num_frames, predictor.size, predictor.size, 3)
    assert rec.original.shape == rec.masked.shape == rec.reconstruction.shape == shape
    grid = tuple(predictor.model.encoder.grid)
    assert rec.error.shape == grid
    hidden = np.isfinite(rec.error)
    assert hidden.sum() == int(round(rec.mask_ratio * hidden.size)) and math.isfinite(rec.mean_error)
    assert (hidden == hidden[:1]).all()  # tube masking: the same positions in every temporal slot
    # Visible tubes are passed through untouched; hidden ones are greyed in the masked input.
    p = predictor.model.spec.patch_size
    vis = np.argwhere(~hidden[0])[0]
    sl = (slice(None), slice(vis[0] * p, vis[0] * p + p), slice(vis[1] * p, vis[1] * p + p))
    assert np.array_equal(rec.reconstruction[sl], rec.original[sl])
    hid = np.argwhere(hidden[0])[0]
    sl = (slice(None), slice(hid[0] * p, hid[0] * p + p), slice(hid[1] * p, hid[1] * p + p))
    assert (rec.masked[sl] == 128).all()
    assert np.array_equal(predictor.reconstruction(pred).error, rec.error, equal_nan=True)  # seeded mask


def test_predict_command_scores_a_folder_despite_a_corrupt_file(ckpt, media, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    for key in ("one", "blank", "corrupt"):
        (folder / media[key].name).write_bytes(media[key].read_bytes())
    (folder / "notes.txt").write_text("not a video, and not picked up by extension")
    out = tmp_path / "out.json"
    rc = main(["predict", str(folder), "--checkpoint", str(ckpt), "--json", str(out), "--device", "cpu"])
    assert rc == 0
    captured = capsys.readouterr()
    text = captured.out
    # a progress bar per video on stderr, naming the file and the stage
    assert "[1/3] blank.mp4 · reading video" in captured.err and "%|" in captured.err
    assert "[3/3] one.mp4 · scoring segments" in captured.err
    assert "%|" not in text
    assert main(["predict", str(media["one"]), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet"]) == 0
    assert "%|" not in capsys.readouterr().err
    lines = {line.split()[0]: line for line in text.splitlines() if line.endswith(("mp4", ".mp4")) or ".mp4" in line}
    assert "error" in lines["corrupt.mp4"] and "inconclusive" in lines["blank.mp4"]
    assert any(v in lines["one.mp4"] for v in (" real ", " fake "))
    assert "2 of 3 files scored" in text
    # the detector card: what the checkpoint was trained on, from its own data
    from deepfake_ssat.checkpoint import read_checkpoint
    from preprocessing.manifest import read_manifest

    card = read_checkpoint(ckpt)["data_config"]["card"]
    train_rows = [r for r in read_manifest(sample_paths()[1] / "manifest.jsonl")
                  if r["split"] == "train" and r["status"] == "ok"]
    assert card["splits"]["train"]["videos"] == {m: len({r["video_id"] for r in train_rows if r["method"] == m})
                                                 for m in sorted({r["method"] for r in train_rows})}
    line = next(x for x in text.splitlines() if x.startswith("detector card: dfdc SAMPLE DATA made by "))
    assert f"{len({r['video_id'] for r in train_rows})} videos" in line and "identities" in line
    doc = json.loads(out.read_text())
    by_name = {Path(r["path"]).name: r for r in doc["results"]}
    assert set(by_name) == {"one.mp4", "blank.mp4", "corrupt.mp4"}
    assert "error" in by_name["corrupt.mp4"] and by_name["blank.mp4"]["score"] is None
    assert by_name["one.mp4"]["verdict"] in ("real", "fake") and doc["checkpoint"]["dataset"] == "dfdc"


def test_predict_out_writes_a_line_per_video_and_resumes(ckpt, media, tmp_path, capsys):
    """`predict DIR --out results.jsonl`: a line per video as it is scored, the bad file recorded with its
    reason, a summary; a rerun skips what is in the file; a line cut short by a crash is scored again."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for key in ("one", "two", "blank", "corrupt"):
        (folder / media[key].name).write_bytes(media[key].read_bytes())
    out = tmp_path / "results.jsonl"
    argv = ["predict", str(folder), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    by_name = {Path(r["path"]).name: r for r in lines}
    assert sorted(by_name) == ["blank.mp4", "corrupt.mp4", "one.mp4", "two.mp4"]
    assert by_name["corrupt.mp4"]["verdict"] == "error" and "cannot read video" in by_name["corrupt.mp4"]["error"]
    assert by_name["blank.mp4"]["verdict"] == "inconclusive" and by_name["two.mp4"]["counts"]["tracks"] == 2
    assert "scored 4 video(s)" in text and "1 inconclusive, 1 error" in text and "failed: corrupt.mp4" in text
    assert "file | verdict" not in text  # the summary, not the per-video table

    assert main(argv) == 0  # everything is in the file: nothing is scored again
    assert "scored 0 video(s)" in capsys.readouterr().out and len(out.read_text().splitlines()) == 4

    kept = [x for x in out.read_text().splitlines() if "two.mp4" not in x]
    out.write_text("\n".join(kept) + "\n" + '{"path": "' + str(folder / "two.mp4") + '", "verd')  # a crash mid-line
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "scored 1 video(s)" in text and "3 already in" in text
    again = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in again) == sorted(by_name)
    rescored = next(r for r in again if r["path"].endswith("two.mp4"))
    assert rescored["score"] == pytest.approx(by_name["two.mp4"]["score"])


def test_predict_out_csv_and_bad_out_files(ckpt, media, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["predict", str(media["one"]), str(media["corrupt"]), "--checkpoint", str(ckpt), "--device", "cpu",
                 "--quiet", "--out", str(out)]) == 0
    import csv

    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).name for r in rows] == ["one.mp4", "corrupt.mp4"]  # in the order given
    assert rows[1]["verdict"] == "error" and rows[0]["verdict"] in ("real", "fake")
    assert 0.0 <= float(rows[0]["fake_probability"]) <= 1.0 and int(rows[0]["segments"]) >= 1
    capsys.readouterr()
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my own notes\n")
    for bad, message in ((tmp_path / "results.txt", "give a .jsonl or a .csv file"),
                         (notes, "is not a JSON line")):
        assert main(["predict", str(media["one"]), "--checkpoint", str(ckpt), "--out", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
    assert notes.read_text() == "my own notes\n"


def test_predict_command_errors(ckpt, media, tmp_path, capsys):
    assert main(["predict", str(media["corrupt"]), "--checkpoint", str(ckpt), "--device", "cpu"]) == 1
    assert main(["predict", str(media["one"]), "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert main(["predict", str(tmp_path / "nothing.mp4"), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "error: checkpoint not found" in err and "error: no such file or folder" in err


@pytest.mark.slow
@pytest.mark.realdata
def test_real_portraits_one_face_track_each_every_segment_scored(ckpt, shared_data):
    videos = sorted(shared_data.glob("portrait_*.mp4"))
    if not videos:
        pytest.skip("no portrait_*.mp4 in ../shared/data")
    p = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(max_segments_per_track=None))
    for v in videos:
        pred = p.predict(v)
        assert pred.counts["tracks"] == 1, f"{v.name}: {pred.counts}"
        n = pred.tracks[0].face_frames
        assert n >= 0.9 * pred.counts["frames_read"], f"{v.name}: face in {n} of {pred.counts['frames_read']} frames"
        expected = len(segment_starts(n, p.num_frames, p.clip_stride, p.segment_step))
        assert pred.counts["segments"] == pred.counts["segments_total"] == expected
        assert pred.verdict in ("real", "fake") and 0.0 <= pred.score <= 1.0


def test_int8_scores_follow_fp32_and_eval_reports_both(ckpt, media, tmp_path, capsys):
    fp32 = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(precision="fp32"))
    int8 = Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(int8=True))
    assert int8.describe()["int8"] and not fp32.describe()["int8"]
    assert (int8.describe()["precision"], fp32.describe()["precision"]) == ("int8", "fp32")
    a, b = fp32.predict(media["one"]), int8.predict(media["one"])
    assert a.counts["segments"] == b.counts["segments"]
    assert b.score == pytest.approx(a.score, abs=0.02)
    assert max(abs(x.fake_prob - y.fake_prob) for x, y in zip(a.segments, b.segments, strict=True)) < 0.02
    raw, faces = sample_paths()
    reports = {}
    for flag in (["--precision", "fp32"], ["--int8"]):
        out = tmp_path / f"{flag[-1]}.json"
        assert main(["eval", "--checkpoint", str(ckpt), "--data-root", str(faces), "--device", "cpu", "--json",
                     str(out), *flag]) == 0
        reports["--int8" in flag] = json.loads(out.read_text())["overall"]
    capsys.readouterr()
    assert reports[True]["n"] == reports[False]["n"]
    assert reports[True]["log_loss"] == pytest.approx(reports[False]["log_loss"], abs=0.02)


def _folder(tmp_path: Path, media, keys=("one", "two", "blank", "corrupt")) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir(exist_ok=True)
    for key in keys:
        (folder / media[key].name).write_bytes(media[key].read_bytes())
    return folder


def _by_name(path: Path) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in map(json.loads, path.read_text().splitlines())}


def test_predict_workers_find_faces_in_other_processes_with_the_same_scores(ckpt, media, tmp_path, capsys):
    """`--workers 2`: faces found in two worker processes, the model here; every video gets the score the
    in-process run gives it, the corrupt file its reason; one bar over all videos."""
    folder = _folder(tmp_path, media)
    base = ["predict", str(folder), "--checkpoint", str(ckpt), "--device", "cpu"]
    assert main([*base, "--quiet", "--out", str(tmp_path / "here.jsonl")]) == 0
    capsys.readouterr()
    assert main([*base, "--workers", "2", "--out", str(tmp_path / "pool.jsonl")]) == 0
    captured = capsys.readouterr()
    assert "predict: 100%" in captured.err and "4/4" in captured.err
    assert "scored 4 video(s)" in captured.out and "failed: corrupt.mp4: cannot read video" in captured.out
    here, pool = _by_name(tmp_path / "here.jsonl"), _by_name(tmp_path / "pool.jsonl")
    assert sorted(pool) == sorted(here)
    for name, r in here.items():
        assert pool[name]["verdict"] == r["verdict"]
        if r.get("score") is not None:
            assert pool[name]["score"] == pytest.approx(r["score"], abs=1e-5), name
            assert pool[name]["counts"] == r["counts"]


def test_predict_worker_timeout_is_recorded_and_bad_flags_are_one_line(ckpt, media, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    argv = ["predict", str(media["one"]), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet", "--out", str(out)]
    assert main([*argv, "--workers", "1", "--timeout", "0.2"]) == 1  # a worker cannot even start in 0.2 s
    assert _by_name(out)["one.mp4"] == {"path": str(media["one"]), "verdict": "error", "error": "face search timeout"}
    capsys.readouterr()
    for flags, message in ((["--workers", "-1"], "--workers must be >= 0"), (["--timeout", "0"], "--timeout must be")):
        assert main([*argv, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err


def test_sharded_results_merge_every_rank_once(tmp_path, monkeypatch):
    """The part files of two ranks (no rendezvous: markers only) and a stale part of an earlier 3-rank run
    end as one results file, one line per video; a rank skips videos any part already holds."""
    from deepfake_ssat.inference.output import ShardedResults

    monkeypatch.delenv("MASTER_ADDR", raising=False)
    out = tmp_path / "results.jsonl"
    stale = tmp_path / "results.jsonl.parts" / "rank2.jsonl"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"path": str(tmp_path / "c.mp4"), "verdict": "error", "error": "x"}) + "\n")
    r1 = ShardedResults(out, rank=1, world=2)
    r1.begin()
    assert tmp_path / "c.mp4" in r1 and tmp_path / "b.mp4" not in r1
    r1.write((str(tmp_path / "b.mp4"), "bad"))
    assert r1.finish() is None and not out.exists()  # rank 0 merges
    r0 = ShardedResults(out, rank=0, world=2)
    r0.begin()
    assert tmp_path / "b.mp4" in r0  # written by rank 1: never scored twice
    r0.write((str(tmp_path / "a.mp4"), "bad"))
    assert r0.finish() == {"error": 3}
    assert sorted(_by_name(out)) == ["a.mp4", "b.mp4", "c.mp4"]
    assert not (tmp_path / "results.jsonl.parts").exists()
    # a one-process rerun after an interrupted sharded one merges what the ranks left
    again = ShardedResults(tmp_path / "results.jsonl", rank=1, world=2)
    again.write((str(tmp_path / "d.mp4"), "bad"))
    single = ShardedResults(out)
    assert tmp_path / "d.mp4" in single and sorted(_by_name(out)) == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]


def test_predict_under_torchrun_needs_out(ckpt, media, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["predict", str(media["one"]), "--checkpoint", str(ckpt)]) == 2
    assert "needs --out" in capsys.readouterr().err


def test_predict_two_ranks_share_a_folder_and_rank_0_merges(ckpt, media, tmp_path):
    """Two real processes with torchrun's variables: each scores its share, the merged file holds every
    video once with the single-process scores."""
    import os
    import socket
    import subprocess
    import sys

    folder = _folder(tmp_path, media)
    single = tmp_path / "single.jsonl"
    assert main(["predict", str(folder), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet",
                 "--out", str(single)]) == 0
    out = tmp_path / "sharded.jsonl"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-m", "deepfake_ssat.cli", "predict", str(folder), "--checkpoint",
                               str(ckpt), "--device", "cpu", "--quiet", "--out", str(out)], cwd=repo,
                              env={**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.PIPE, text=True)
             for r in (0, 1)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert "scored 2 video(s)" in outs[0] and "scored 2 video(s)" in outs[1]
    assert "rank 0 merges" in outs[1] and "1 inconclusive, 1 error" in outs[0]
    merged, ref = _by_name(out), _by_name(single)
    assert sorted(merged) == sorted(ref) and len(out.read_text().splitlines()) == 4
    for name, r in ref.items():
        assert merged[name].get("score") == pytest.approx(r.get("score"), abs=1e-5)
    assert not out.with_name(out.name + ".parts").exists()


def test_sharded_csv_results_merge_with_one_header(tmp_path, monkeypatch):
    import csv

    from deepfake_ssat.inference.output import ShardedResults

    monkeypatch.delenv("MASTER_ADDR", raising=False)
    out = tmp_path / "results.csv"
    ranks = [ShardedResults(out, rank=r, world=2) for r in (1, 0)]
    for r, rank in zip(("b", "a"), ranks, strict=True):
        rank.begin()
        rank.write((str(tmp_path / f"{r}.mp4"), "two\nlines"))  # a quoted field with a newline
    assert ranks[0].finish() is None and ranks[1].finish() == {"error": 2}
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mp4"] and rows[0]["error"] == "two\nlines"
    assert out.read_text().count("path,verdict") == 1
