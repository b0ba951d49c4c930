"""Indexing DFDC, FF++ and folder trees: ids, labels, originals, split grouping, clear errors."""

import json
import re
from pathlib import Path

import pytest

from preprocessing.datasets import DatasetError, index_dfdc, index_ffpp, index_folder

METHODS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def dfdc_tree(root: Path, parts: int = 3, reals: int = 6, fakes_per_real: int = 3) -> Path:
    for k in range(parts):
        part = root / f"dfdc_train_part_{k}"
        meta = {}
        for r in range(reals):
            real = f"r{k}_{r}.mp4"
            meta[real] = {"label": "REAL", "split": "train"}
            touch(part / real)
            for f in range(fakes_per_real):
                fake = f"f{k}_{r}_{f}.mp4"
                meta[fake] = {"label": "FAKE", "split": "train", "original": real}
                touch(part / fake)
        touch(part / "metadata.json").write_text(json.dumps(meta))
    return root


def test_a_small_dfdc_tree_still_gets_a_validation_group(tmp_path):
    """The sample's default (8 groups at val_fraction 0.1) used to give no val video and an untrainable tree."""
    entries = index_dfdc(dfdc_tree(tmp_path), val_fraction=0.01)
    assert len({e.original for e in entries if e.split == "val"}) == 1


def test_dfdc_groups_fakes_with_their_original(tmp_path):
    entries = index_dfdc(dfdc_tree(tmp_path), val_fraction=0.3, seed=1)
    by_id = {e.video_id: e for e in entries}
    assert len(by_id) == len(entries) == 3 * 6 * 4
    assert {e.split for e in entries} == {"train", "val"}
    groups = {e.original: e.split for e in entries}
    assert list(groups.values()).count("val") == round(len(groups) * 0.3)  # exact: 5 of 18 groups
    for e in entries:
        assert e.original in by_id and by_id[e.original].label == 0
        assert e.split == by_id[e.original].split  # never on different sides
        assert (e.label, e.method) in ((0, "real"), (1, "dfdc"))
    fake = by_id["dfdc/dfdc_train_part_1/f1_2_0.mp4"]
    assert fake.original == "dfdc/dfdc_train_part_1/r1_2.mp4" and fake.source == "dfdc_train_part_1/f1_2_0.mp4"
    # deterministic, and the seed changes it
    assert [e.split for e in index_dfdc(tmp_path, 0.3, seed=1)] == [e.split for e in entries]
    assert [e.split for e in index_dfdc(tmp_path, 0.3, seed=2)] != [e.split for e in entries]


def test_dfdc_split_by_part_and_test_set(tmp_path):
    dfdc_tree(tmp_path, parts=4)
    test = tmp_path / "test"
    touch(test / "a.mp4")
    touch(test / "b.mp4")
    (test / "labels.csv").write_text("filename,label\na.mp4,0\nb.mp4,1\n")
    entries = index_dfdc(tmp_path, val_fraction=0.25, split_by_part=True)
    splits = {e.video_id.split("/")[1]: set() for e in entries}
    for e in entries:
        splits[e.video_id.split("/")[1]].add(e.split)
    assert splits == {
        "dfdc_train_part_0": {"train"},
        "dfdc_train_part_1": {"train"},
        "dfdc_train_part_2": {"train"},
        "dfdc_train_part_3": {"val"},
        "test": {"test"},
    }
    tests = {e.video_id: e for e in entries if e.split == "test"}
    assert tests["dfdc/test/b.mp4"].label == 1 and tests["dfdc/test/a.mp4"].method == "real"


def test_dfdc_bad_trees_give_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="no DFDC data"):
        index_dfdc(tmp_path)
    part = tmp_path / "dfdc_train_part_0"
    touch(part / "x.mp4")
    (part / "metadata.json").write_text(json.dumps({"x.mp4": {"label": "MAYBE"}}))
    with pytest.raises(DatasetError, match=r"x.mp4: unknown label"):
        index_dfdc(tmp_path)
    (part / "metadata.json").unlink()
    touch(tmp_path / "dfdc_train_part_1" / "metadata.json").write_text("{}")
    with pytest.raises(DatasetError, match="dfdc_train_part_0: metadata.json missing"):
        index_dfdc(tmp_path)


def ffpp_tree(root: Path, pairs: dict, compression: str = "c23") -> Path:
    for split, ps in pairs.items():
        touch(root / "splits" / f"{split}.json").write_text(json.dumps(ps))
        for a, b in ps:
            for x in (a, b):
                touch(root / "original_sequences/youtube" / compression / "videos" / f"{x}.mp4")
            for m in METHODS:
                for t, s in ((a, b), (b, a)):
                    touch(root / "manipulated_sequences" / m / compression / "videos" / f"{t}_{s}.mp4")
    return root


def test_ffpp_pair_semantics_and_unique_ids(tmp_path):
    pairs = {"train": [["000", "003"], ["001", "002"]], "val": [["004", "005"]], "test": [["006", "007"]]}
    entries = index_ffpp(ffpp_tree(tmp_path, pairs))
    ids = [e.video_id for e in entries]
    assert len(ids) == len(set(ids)) == 8 + 4 * 2 * 4  # 4 pairs: 8 reals, 2 fakes per pair and method
    by_id = {e.video_id: e for e in entries}
    for split, ps in pairs.items():
        for a, b in ps:
            assert by_id[f"ffpp/real/c23/{a}"].split == by_id[f"ffpp/real/c23/{b}"].split == split
            for m in METHODS:
                ab, ba = by_id[f"ffpp/{m}/c23/{a}_{b}"], by_id[f"ffpp/{m}/c23/{b}_{a}"]
                assert ab.split == ba.split == split and ab.label == ba.label == 1 and ab.method == m
                assert ab.original == f"ffpp/real/c23/{a}" and ba.original == f"ffpp/real/c23/{b}"
    # same fake name under every method, distinct ids
    assert {by_id[f"ffpp/{m}/c23/000_003"].source for m in METHODS}.__len__() == 4


def test_ffpp_missing_split_files_and_folders(tmp_path):
    ffpp_tree(tmp_path, {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]})
    (tmp_path / "splits" / "val.json").unlink()
    with pytest.raises(DatasetError, match=r"val.json not found.*github.com/ondyari/FaceForensics"):
        index_ffpp(tmp_path)
    # a listed video that is absent is still indexed (the run records it as missing_file)
    ffpp_tree(tmp_path, {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]})
    with pytest.raises(DatasetError, match="c40"):
        index_ffpp(tmp_path, compression="c40")
    (tmp_path / "original_sequences/youtube/c23/videos/004.mp4").unlink()
    entries = index_ffpp(tmp_path, methods=["Deepfakes"])
    assert not next(e for e in entries if e.video_id == "ffpp/real/c23/004").path.exists()


def test_folder_subfolders_and_csv(tmp_path):
    touch(tmp_path / "real" / "a.mp4")
    touch(tmp_path / "real" / "sub" / "b.MOV")
    touch(tmp_path / "fake" / "c.mp4")
    touch(tmp_path / "fake" / "notes.txt")
    entries = index_folder(tmp_path, val_fraction=0.0)
    assert {(e.video_id, e.label, e.method, e.split) for e in entries} == {
        ("folder/real/a.mp4", 0, "real", "train"),
        ("folder/real/sub/b.MOV", 0, "real", "train"),
        ("folder/fake/c.mp4", 1, "folder", "train"),
    }
    (tmp_path / "list.csv").write_text("path,label,split\nreal/a.mp4,real,test\nfake/c.mp4,1,val\n")
    entries = index_folder(tmp_path, tmp_path / "list.csv")
    assert [(e.source, e.label, e.split) for e in entries] == [("real/a.mp4", 0, "test"), ("fake/c.mp4", 1, "val")]
    (tmp_path / "bad.csv").write_text("real/a.mp4,2\n")
    with pytest.raises(DatasetError, match="row 1"):
        index_folder(tmp_path, tmp_path / "bad.csv")
    with pytest.raises(DatasetError, match="expected real/ and fake/"):
        index_folder(tmp_path / "real")


def test_folder_methods_from_subfolders(tmp_path):
    for name in ("real/a.mp4", "fake/vasa1/b.mp4", "fake/vasa1/deep/c.mp4", "fake/sadtalker/d.mp4", "fake/e.mp4"):
        touch(tmp_path / name)
    entries = {e.source: e for e in index_folder(tmp_path, val_fraction=0.0)}
    assert {s: e.method for s, e in entries.items()} == {
        "real/a.mp4": "real", "fake/vasa1/b.mp4": "vasa1", "fake/vasa1/deep/c.mp4": "vasa1",
        "fake/sadtalker/d.mp4": "sadtalker", "fake/e.mp4": "folder"}
    assert all(e.identity == e.video_id for e in entries.values())  # one identity per video by default


def test_folder_csv_with_methods_and_identities_splits_by_identity(tmp_path):
    lines = ["path,label,method,identity,source"]
    for i in range(10):
        lines.append(f"real/r{i}.mp4,real,real,person{i},somewhere")
    for i in range(20):  # two fakes per source photo: they must stay together
        lines.append(f"fake/v{i}.mp4,fake,vasa1,photo{i // 2},demo")
    (tmp_path / "videos.csv").write_text("\n".join(lines) + "\n")
    entries = index_folder(tmp_path, tmp_path / "videos.csv", val_fraction=0.2, seed=1, test_fraction=0.3)
    split_of: dict[str, set[str]] = {}
    for e in entries:
        split_of.setdefault(e.identity, set()).add(e.split)
    assert all(len(s) == 1 for s in split_of.values())  # no identity on two sides
    reals = [e.split for e in entries if e.label == 0]
    photos = {e.identity: e.split for e in entries if e.label == 1}
    assert (reals.count("test"), reals.count("val"), reals.count("train")) == (3, 2, 5)  # exact, per stratum
    assert sorted(photos.values()).count("test") == 3 and sorted(photos.values()).count("val") == 2
    assert {e.method for e in entries} == {"real", "vasa1"}
    again = index_folder(tmp_path, tmp_path / "videos.csv", val_fraction=0.2, seed=1, test_fraction=0.3)
    assert again == entries  # reproducible


@pytest.mark.parametrize(("row", "message"), [
    ("fake/x.mp4,fake,real,p", "a fake video cannot have method 'real'"),
    ("real/x.mp4,real,vasa1,p", "a real video has method 'real'"),
    ("fake/x.mp4,fake,vasa 1,p", "method 'vasa 1' must be letters"),
    ("fake/x.mp4,maybe,vasa1,p", "expected a label 0/1/real/fake, got 'maybe'"),
])
def test_folder_csv_bad_rows_are_named(tmp_path, row, message):
    (tmp_path / "v.csv").write_text(f"path,label,method,identity\n{row}\n")
    with pytest.raises(DatasetError, match=f"v.csv row 1: {re.escape(message)}"):
        index_folder(tmp_path, tmp_path / "v.csv")


def test_an_identity_in_two_splits_is_refused(tmp_path):
    (tmp_path / "v.csv").write_text("path,label,split,identity\nreal/a.mp4,real,train,ann\nfake/b.mp4,fake,test,ann\n")
    with pytest.raises(DatasetError, match=r"identity 'ann' is in test \(fake/b.mp4\) and train \(real/a.mp4\)"):
        index_folder(tmp_path, tmp_path / "v.csv")


def test_folder_csv_original_column_links_a_fake_to_its_real_source(tmp_path):
    rows = ["path,label,method,identity,original",
            "real/kim.mp4,real,real,kim,",
            "fake/w/kim.mp4,fake,wav2lip,,real/kim.mp4",  # identity inherited from the original
            "fake/r/kim.mp4,fake,retalking,kim,real/kim.mp4",
            "fake/v/x.mp4,fake,vasa1,x,"]
    for r in rows[1:]:
        touch(tmp_path / r.split(",")[0])
    (tmp_path / "v.csv").write_text("\n".join(rows) + "\n")
    entries = {e.source: e for e in index_folder(tmp_path, tmp_path / "v.csv", val_fraction=0.5)}
    real = entries["real/kim.mp4"]
    for fake in ("fake/w/kim.mp4", "fake/r/kim.mp4"):
        assert entries[fake].original == real.video_id
        assert entries[fake].identity == "kim" and entries[fake].split == real.split
    assert entries["fake/v/x.mp4"].original == entries["fake/v/x.mp4"].video_id  # no original: itself


@pytest.mark.parametrize(("rows", "message"), [
    (["real/a.mp4,real,real,a,real/b.mp4", "real/b.mp4,real,real,b,"], "row 1: a real video has no original"),
    (["fake/a.mp4,fake,w,a,real/none.mp4"], "row 1: original 'real/none.mp4' is not a video of the CSV"),
    (["fake/a.mp4,fake,w,a,", "fake/b.mp4,fake,w,a,fake/a.mp4"], "row 2: original 'fake/a.mp4' is a fake"),
    (["real/a.mp4,real,real,ann,", "fake/b.mp4,fake,w,bob,real/a.mp4"], "row 2: identity 'bob' differs from its "
                                                                          "original's ('ann')"),
])
def test_folder_csv_bad_originals_are_named(tmp_path, rows, message):
    (tmp_path / "v.csv").write_text("path,label,method,identity,original\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=re.escape(message)):
        index_folder(tmp_path, tmp_path / "v.csv")
