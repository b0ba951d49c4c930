"""The layering rule: preprocessing ← deepfake_ssat ← app, arrows only that way.

Every module of the three packages is parsed (not imported) and every import statement in it,
also those inside functions, is checked: a package may import itself and the layers below it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("preprocessing", "deepfake_ssat", "app")  # bottom to top


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file; relative imports stay inside."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
                out.append((node.lineno, arg.value.split(".")[0]))
    return out


def back_edges() -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for layer in LAYERS:
        for path in sorted((REPO / layer).rglob("*.py")):
            for line, pkg in imported_packages(path):
                if pkg in rank and rank[pkg] > rank[layer]:
                    bad.append(f"{path.relative_to(REPO)}:{line} imports {pkg}")
    return bad


def test_no_module_imports_a_higher_layer():
    assert back_edges() == []


def test_the_check_sees_lazy_imports(tmp_path, monkeypatch):
    """A function-level import of a higher layer is caught (the check is not vacuous)."""
    fake = tmp_path / "preprocessing"
    fake.mkdir()
    (fake / "m.py").write_text("def f():\n    from deepfake_ssat.config import Config\n    return Config\n")
    for name in LAYERS[1:]:
        (tmp_path / name).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert back_edges() == ["preprocessing/m.py:2 imports deepfake_ssat"]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_has_modules(layer):
    assert list((REPO / layer).rglob("*.py"))
