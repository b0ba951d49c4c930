import pytest

from deepfake_ssat.cli import build_parser, main


def test_help_lists_only_working_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        assert name in out
        # Each listed subcommand parses its own --help.
        with pytest.raises(SystemExit) as e2:
            main([name, "--help"])
        assert e2.value.code == 0


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "videomae_base" in out and "vit_tiny" in out and "86.2M" in out


def test_config_prints_resolved_values(capsys):
    assert main(["config", "--config", "image/cifar10", "--set", "train.epochs=7"]) == 0
    out = capsys.readouterr().out
    assert "epochs: 7" in out and "patch_size: 2" in out


def test_config_error_is_one_line(capsys):
    assert main(["config", "--set", "model.mask_ratio=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.mask_ratio: must be in (0, 1)") and err.count("\n") == 1
