from pathlib import Path

import pytest
import yaml

from deepfake_ssat.config import PRESET_DIR, Config, ConfigError, load_config, save_config
from deepfake_ssat.configschema import to_dict

PRESETS = sorted(PRESET_DIR.rglob("*.yaml"))


def test_there_are_presets():
    assert len(PRESETS) >= 6


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: str(p.relative_to(PRESET_DIR)))
def test_every_preset_loads_and_validates(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    # A preset may only name keys the schema has; loading would have raised otherwise.
    assert yaml.safe_load(path.read_text())


def test_preset_by_short_name_and_overrides():
    cfg = load_config("image/cifar10", overrides=["train.epochs=3", "model.mask_ratio=0.9", "data.mean=[0.5,0.5,0.5]",
                                                  "data.std=[0.2, 0.2, 0.2]"])
    assert cfg.train.epochs == 3 and cfg.model.mask_ratio == 0.9 and cfg.data.mean == [0.5, 0.5, 0.5]
    assert cfg.model.patch_size == 2  # from the preset


def test_unknown_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.epochz' \(did you mean 'train\.epochs'\?\)"):
        load_config(overrides=["train.epochz=5"])
    with pytest.raises(ConfigError, match="unknown config key 'trainn'"):
        load_config({"trainn": {"epochs": 1}})


def test_wrong_types_name_the_key():
    with pytest.raises(ConfigError, match="train.epochs: expected an integer, got 'ten'"):
        load_config(overrides=["train.epochs=ten"])
    with pytest.raises(ConfigError, match="train.betas: expected 2 values"):
        load_config(overrides=["train.betas=[0.9]"])
    with pytest.raises(ConfigError, match="model.mode: 'joint' is not one of"):
        load_config(overrides=["model.mode=joint"])
    with pytest.raises(ConfigError, match="model.grad_checkpointing: expected true/false"):
        load_config(overrides=["model.grad_checkpointing=1"])


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.mask_ratio=1.0", r"model.mask_ratio: must be in \(0, 1\), got 1.0"),
        ("model.mask_ratio=0", r"model.mask_ratio: must be in \(0, 1\)"),
        ("model.lambda_cls=1.5", r"model.lambda_cls: must be in \[0, 1\], got 1.5"),
        ("model.name=vit_huge", "model.name: unknown model 'vit_huge'"),
        ("train.lr=-1", "train.lr: must be positive"),
        ("data.train_fraction=0", r"data.train_fraction: must be in \(0, 1\]"),
        ("model.mode=finetune", "model.init: mode 'finetune' needs"),
    ],
)
def test_impossible_values_fail_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_scientific_notation_without_a_dot_is_a_number():
    assert load_config(overrides=["train.lr=2e-3"]).train.lr == 0.002
    with pytest.raises(ConfigError, match="train.lr: expected a number, got 'fast'"):
        load_config(overrides=["train.lr=fast"])


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(overrides=["train.epochs"])


def test_missing_preset_lists_available():
    with pytest.raises(ConfigError, match="not found; presets: .*image/cifar10"):
        load_config("image/cifar11")


def test_saved_config_round_trips(tmp_path: Path):
    cfg = load_config("image/fashion_mnist", overrides=["train.epochs=2"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert to_dict(again) == to_dict(cfg)


def test_a_wheel_carries_the_presets(tmp_path):
    """`pip install .` (not only an editable install) must find every preset and the console script."""
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools", minversion="77")
    repo = PRESET_DIR.parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(repo)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("deepfake_ssat-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    want = {f"deepfake_ssat/configs/{p.relative_to(PRESET_DIR).as_posix()}" for p in PRESETS}
    assert want and want <= names
    assert "deepfake-ssat = app.cli:main" in entry_points
