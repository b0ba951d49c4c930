"""The layering rule: preprocessing ← deepfake_ssat ← app, arrows only that way, and no circle of
imports between the modules of one package.

Every module of the three packages is parsed (not imported) and every import statement in it,
also those inside functions (lazy imports run back up as surely as top-level ones), is checked: a
package may import itself and the layers below it, and within a package no module may import,
directly or through others, a module that imports it back.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
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


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file imports anywhere in its body, relative imports resolved
    (``from .x import y`` names module ``pkg.x.y`` when that is a module, else ``pkg.x``), with the
    packages whose ``__init__`` such an import runs."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            # `from .x import y` imports module x.y when y is a module, else takes a name from x.
            targets = [f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in modules else mod for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` where c is not a module of ours
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
            # Importing a.b.c runs a/b/__init__.py too (the importer's own packages have run already).
            parent = target.rpartition(".")[0]
            while parent:
                if parent in modules and not name.startswith(parent + "."):
                    found.add(parent)
                parent = parent.rpartition(".")[0]
    return found


def import_circles(root: Path = REPO) -> list[list[str]]:
    """Each set of modules of one package that import each other round in a circle (Tarjan's strongly
    connected components of more than one module), sorted."""
    files = {_module_name(p, root): p for layer in LAYERS for p in sorted((root / layer).rglob("*.py"))}
    graph = defaultdict(set)
    for name, path in files.items():
        graph[name] = {m for m in module_imports(path, root, set(files)) if m.split(".")[0] == name.split(".")[0]}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(files):
        if v not in index:
            visit(v)
    return sorted(circles)


def test_no_import_circle_inside_a_package():
    assert import_circles() == []


# (files of a synthetic deepfake_ssat package, the circles the check must report)
_CIRCLE_CASES = {
    # closed by a function-level relative import, three modules round; d's one-way import is no circle
    "lazy and relative": ({"__init__.py": "", "sub/__init__.py": "", "a.py": "from .sub import b\n",
                           "sub/b.py": "import deepfake_ssat.c\n",
                           "c.py": "def f():\n    from .a import X\n    return X\n", "d.py": "from .c import f\n"},
                          [["deepfake_ssat.a", "deepfake_ssat.c", "deepfake_ssat.sub.b"]]),
    # importing pkg.p.q runs pkg/p/__init__.py: a circle closed through that __init__ is one too
    "through a package init": ({"__init__.py": "", "p/__init__.py": "from ..e import f\n", "p/q.py": "g = 1\n",
                                "e.py": "def f():\n    from .p.q import g\n    return g\n"},
                               [["deepfake_ssat.e", "deepfake_ssat.p"]]),
}


@pytest.mark.parametrize("case", list(_CIRCLE_CASES))
def test_the_circle_check_sees_lazy_relative_and_init_imports(tmp_path, case):
    files, circles = _CIRCLE_CASES[case]
    for name in LAYERS:
        (tmp_path / name).mkdir()
    for rel, text in files.items():
        path = tmp_path / "deepfake_ssat" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert import_circles(tmp_path) == circles
