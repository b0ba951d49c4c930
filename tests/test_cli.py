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


def _subparsers(parser):
    """(command words, parser) of every leaf subcommand, e.g. (("benchmark", "leave-one-out"), …)."""
    import argparse

    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                below = _subparsers(sub)
                out += [((name, *words), p) for words, p in below] if below else [((name,), sub)]
    return out


def test_benchmark_help_ends_with_one_example_per_protocol():
    from deepfake_ssat.cli import build_parser
    from deepfake_ssat.protocols import PROTOCOLS, get_protocol

    parser = build_parser()
    (bench,) = [sub for words, sub in _parents(parser) if words == ("benchmark",)]
    lines = [ln.strip() for ln in bench.format_help().split("examples:", 1)[1].splitlines() if ln.strip()]
    assert lines == [get_protocol(name).EXAMPLES[0] for name in PROTOCOLS]
    for line, name in zip(lines, PROTOCOLS, strict=True):
        assert line.startswith(f"deepfake-ssat benchmark {name} ")


def _parents(parser):
    """(command words, parser) of every subcommand that has subcommands of its own."""
    import argparse

    return [((name,), sub) for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()
            if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)]


def test_every_command_shows_examples_that_parse_and_set_hints_that_exist():
    """Each --help ends with 1-3 real examples, each of which the parser accepts as written, and every
    "e.g. --set KEY=VALUE" hint names a key of that command's schema."""
    import re
    import shlex

    from app.cli import build_parser as full_parser
    from deepfake_ssat.config import Config
    from deepfake_ssat.configschema import annotation_of
    from preprocessing.config import PreprocessConfig

    parser = full_parser()
    leaves = _subparsers(parser)
    assert {w[0] for w, _ in leaves} >= {"models", "config", "train", "preprocess", "sample", "benchmark", "eval",
                                         "predict", "demo"}
    for words, sub in leaves:
        text = sub.format_help()
        assert "examples:" in text, words
        lines = [ln.strip() for ln in text.split("examples:", 1)[1].splitlines() if ln.strip()]
        assert 1 <= len(lines) <= 3, (words, lines)
        for line in lines:
            argv = shlex.split(line)
            assert argv[0] == "deepfake-ssat" and tuple(argv[1:1 + len(words)]) == words, line
            args = parser.parse_args(argv[1:])  # SystemExit (a failing test) if an example rotted
            assert callable(args.func)
        schema = PreprocessConfig if words == ("preprocess",) else Config
        for key in re.findall(r"--set ([a-z_.]+)=", " ".join(text.split())):
            annotation_of(schema, key)  # ConfigError if the hint names no such key


def test_help_and_usage_errors_answer_before_the_heavy_libraries_load():
    """--help, argument errors and config errors import no torch, OpenCV, numpy, scikit-learn or Gradio
    (the parser used to import them all: 8 s before a usage message)."""
    import subprocess
    import sys

    probe = (
        "import sys, contextlib, io\n"
        "import app.cli\n"
        "p = app.cli.build_parser()\n"
        "for argv in (['--help'], ['train', '--help'], ['train', '--no-such-flag'], ['eval']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            p.parse_args(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    assert app.cli.main(['train', '--dataset', 'cifar10', '--mask', '1.2']) == 2\n"
        "heavy = ('torch', 'cv2', 'numpy', 'sklearn', 'gradio', 'timm', 'decord', 'av', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
