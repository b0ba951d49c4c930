"""What a leave-one-out protocol holds out: the data, its units (a fake method, or a group of methods held
out together), and the test selections a unit implies. Read by the protocol and by its baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SPLITS = ("train", "val", "test")
TestFakes = Literal["test", "all"]


class ProtocolError(ValueError):
    """A fold whose data would break the leave-one-out protocol."""


@dataclass
class Protocol:
    """What one use of the protocol fixes: the data, the held-out units and how they are tested and shown."""

    dataset: str  # data.dataset of every fold
    root: str  # the preprocessed data (manifest.jsonl)
    methods: tuple[str, ...]  # held-out units, each in turn: a fake method, or the name of a group
    test_fakes: TestFakes = "test"
    short: dict[str, str] = field(default_factory=dict)  # column names, e.g. {"Deepfakes": "DF"}
    paper_rows: dict[str, dict[str, float]] = field(default_factory=dict)  # reference accuracies (%)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unit name → its fake methods
    # unit → held_people(unit): read from the manifest once, not at every selection of every fold
    _people: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def members(self, unit: str) -> tuple[str, ...]:
        """The fake methods of a held-out unit (a method is a unit of one)."""
        return self.groups.get(unit, (unit,))

    def trained(self, heldout: str) -> list[str]:
        """The fake methods a fold holding out ``heldout`` trains on."""
        return [m for u in self.methods if u != heldout for m in self.members(u)]

    def held_people(self, heldout: str) -> list[str]:
        """Identities of the fakes a fold tests on: kept out of its training and validation."""
        if heldout not in self._people:
            splits = ("test",) if self.test_fakes == "test" else SPLITS
            members = set(self.members(heldout))
            self._people[heldout] = sorted({r["identity"] for r in manifest_rows(self.root)
                                            if r["label"] == 1 and r["method"] in members and r["split"] in splits})
        return self._people[heldout]

    def test_selection(self, heldout: str):
        """A fold's test set (``data.video.Selection``): the held-out fakes, the test reals, and the real
        videos of the held-out fakes' people (e.g. a lip-sync fake's original)."""
        from ..data.video import Pick

        splits = ("test",) if self.test_fakes == "test" else SPLITS
        return Pick({"real": ("test",), **{m: splits for m in self.members(heldout)}},
                    {"real": frozenset(self.held_people(heldout))})

    def seen_selection(self, heldout: str) -> dict[str, tuple[str, ...]]:
        """The fold's other test set: the test-split fakes of the methods it trained on + the test reals
        (new videos and identities of known methods, against which the held-out column is read)."""
        return {"real": ("test",), **{m: ("test",) for m in self.trained(heldout)}}


def manifest_rows(root: str | Path) -> list[dict]:
    from preprocessing.manifest import read_manifest

    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no preprocessed data in {root}: {path} does not exist (run `deepfake-ssat "
                                "preprocess` first)")
    return read_manifest(path)


def fake_methods(rows: list[dict]) -> tuple[str, ...]:
    return tuple(sorted({r["method"] for r in rows if r["label"] == 1 and r["status"] == "ok"}))


def make_protocol(dataset: str, root: str | Path, methods: list[str] | None = None, test_fakes: TestFakes = "test",
                  groups: dict[str, list[str]] | None = None, **kw: Any) -> Protocol:
    """The protocol over the fake methods the manifest holds, ``groups`` of them held out together (the
    units: each group, and each method in no group), or over ``methods`` of those units; two are needed."""
    have = fake_methods(manifest_rows(root))
    groups = {name: tuple(ms) for name, ms in (groups or {}).items()}
    problems = [f"group {name!r}: {sorted(set(ms) - set(have))} are not fake methods of {root}"
                for name, ms in groups.items() if set(ms) - set(have)]
    problems += [f"group {name!r} is also a method name" for name in groups if name in have]
    grouped = [m for ms in groups.values() for m in ms]
    problems += [f"method {m!r} is in two groups" for m in sorted({m for m in grouped if grouped.count(m) > 1})]
    if problems:
        raise ProtocolError("; ".join(problems))
    units = (*groups, *(m for m in have if m not in grouped))
    if methods:
        unknown = sorted(set(methods) - set(units))
        if unknown:
            raise ProtocolError(f"methods {unknown} are not among the fake methods or groups of {root}: {list(units)}")
        units = tuple(u for u in units if u in methods)
    if len(units) < 2:
        raise ProtocolError(f"leave-one-method-out needs two or more fake methods; {root} has {list(units) or 'none'}")
    return Protocol(dataset, str(root), tuple(units), test_fakes, groups=groups, **kw)
