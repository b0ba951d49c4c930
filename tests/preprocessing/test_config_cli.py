"""PreprocessConfig schema and validation, the CLI flags, and the layering rule."""

import argparse
import ast
import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

from preprocessing.cli import add_arguments, config_from_args, run_command
from preprocessing.config import FaceCropConfig, PreprocessConfig

PACKAGE = Path(__file__).resolve().parents[2] / "preprocessing"


def _simple(tp) -> bool:
    origin = typing.get_origin(tp)
    if tp in (int, float, str, bool):
        return True
    if dataclasses.is_dataclass(tp):
        return all(_simple(t) for t in typing.get_type_hints(tp).values())
    if origin is typing.Literal:
        return True
    if origin is list:
        return _simple(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return len(args) == 1 and _simple(args[0])
    return False


def test_annotations_are_loader_friendly_and_defaults_validate():
    for name, tp in typing.get_type_hints(PreprocessConfig).items():
        assert _simple(tp), name
    assert typing.get_type_hints(PreprocessConfig)["faces"] is FaceCropConfig
    PreprocessConfig(root="r", out="o").validate()
    FaceCropConfig().validate()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": ""}, "root: required"),
        ({"workers": -1}, "workers: must be >= 0"),
        ({"val_fraction": 1.0}, "val_fraction:"),
        ({"faces": FaceCropConfig(margin=0.5)}, "faces.margin: must be >= 1.0, got 0.5"),
        ({"faces": FaceCropConfig(max_frames=0)}, "faces.max_frames:"),
    ],
)
def test_validate_names_the_field(change, message):
    cfg = dataclasses.replace(PreprocessConfig(root="r", out="o"), **change)
    with pytest.raises(ValueError, match=f"^{message}"):
        cfg.validate()


def test_nested_detector_errors_are_prefixed():
    cfg = FaceCropConfig()
    cfg.detector.every = 0
    with pytest.raises(ValueError, match=r"^detector\.every: must be >= 1"):
        cfg.validate()


def test_builds_with_the_projects_config_loader():
    configschema = pytest.importorskip("deepfake_ssat.configschema")
    cfg = configschema.build(
        PreprocessConfig, {"root": "r", "out": "o", "faces": {"detector": {"every": 3}}}, overrides=["faces.size=112"]
    )
    assert (cfg.faces.detector.every, cfg.faces.size, cfg.faces.margin) == (3, 112, 1.3)
    with pytest.raises(ValueError, match="faces.margin"):
        configschema.build(PreprocessConfig, {"root": "r", "out": "o"}, overrides=["faces.margin=0.5"])


def test_flags_give_only_what_was_set():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args([])) == {}
    args = parser.parse_args(
        [
            "--dataset",
            "ffpp",
            "--root",
            "/r",
            "--out",
            "/o",
            "--workers",
            "3",
            "--retry-failed",
            "--limit",
            "5",
            "--device",
            "cuda:1",
            "--detect-every",
            "4",
            "--methods",
            "Deepfakes",
            "Face2Face",
            "--no-progress",
        ]
    )
    assert config_from_args(args) == {
        "dataset": "ffpp",
        "root": "/r",
        "out": "/o",
        "workers": 3,
        "retry_failed": True,
        "limit": 5,
        "methods": ["Deepfakes", "Face2Face"],
        "progress": False,
        "faces": {"detector": {"device": "cuda:1", "every": 4}},
    }


def test_run_command_reports_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys):
    cfg = PreprocessConfig(dataset="dfdc", root=str(tmp_path / "nope"), out=str(tmp_path / "o"), progress=False)
    assert run_command(cfg) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset root is not a folder") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # no .state/ made for a run that cannot start
    (tmp_path / "ffpp").mkdir()
    cfg = PreprocessConfig(dataset="ffpp", root=str(tmp_path / "ffpp"), out=str(tmp_path / "o"), progress=False)
    assert run_command(cfg) == 2
    assert "error: FF++ split files" in capsys.readouterr().err


def test_package_imports_nothing_from_deepfake_ssat():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("deepfake_ssat", "app") for n in names), path


@pytest.mark.parametrize(("rule", "value", "ok"), [
    (">= 1", 1, True), (">= 1", 0, False), ("> 0", 0.0, False), ("> 0", 0.01, True),
    ("in (0, 1)", 0.0, False), ("in (0, 1)", 0.5, True), ("in [0, 1)", 0.0, True), ("in [0, 1)", 1.0, False),
    ("in [1, 100]", 100, True), ("in [1, 100]", 101, False), (">= 1", None, True),
])
def test_range_rules(rule, value, ok):
    from types import SimpleNamespace

    from preprocessing.config import check_fields

    section = SimpleNamespace(x=value)
    if ok:
        check_fields(section, x=rule)
    else:
        with pytest.raises(ValueError, match=f"^x: must be {re.escape(rule)}, got {value}$"):
            check_fields(section, x=rule)
