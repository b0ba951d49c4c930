"""Typed-dataclass config machinery: build a dataclass tree from a dict, YAML and dotted overrides.

The schema is always a (nested) dataclass; YAML only supplies values. Every key is checked against
the schema and every value against its annotation, so a typo or a wrong type fails at start-up with
the dotted name of the key rather than deep inside a training run.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value that does not fit the schema."""


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and return it in canonical form."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null (expected {_type_name(tp)})")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            choices = ", ".join(repr(a) for a in get_args(tp))
            raise ConfigError(f"{key}: {value!r} is not one of {choices}")
        return value
    if origin in (list, tuple, Iterable) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "2e-3" (no dot) as a string; accept the number people mean.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported annotation {tp!r} in the schema")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), fields, n=1)
        hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown config key '{prefix}{k}'{hint}; valid keys here: {', '.join(prefix + f for f in fields)}"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    obj = cls(**kwargs)
    validate(obj, prefix)
    return obj


def validate(obj: Any, prefix: str = "") -> None:
    """Run ``obj.validate()`` (and nested ones), prefixing errors with the section's dotted name."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate(value, f"{prefix}{f.name}.")
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as e:  # ConfigError, or ValueError from schemas outside this package
            msg = str(e)
            raise ConfigError(msg if msg.startswith(prefix) else f"{prefix}{msg}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-python dict (tuples become lists) suitable for YAML/JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(obj))


Override = str | tuple[str, str]  # "section.key=value", or (dotted key, value text) from a shortcut flag


def parse_override(item: Override) -> tuple[list[str], Any]:
    """``"train.epochs=5"`` or ``("train.epochs", "5")`` → (["train", "epochs"], 5).

    Values are parsed as YAML scalars/lists, the same way for ``--set`` and for shortcut flags.
    """
    if isinstance(item, str):
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
    else:
        key, raw = item
    text = f"{key}={raw}"
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: cannot parse value ({e})") from None
    return key.split("."), value


def annotation_of(cls: type, key: str) -> Any:
    """The annotation of dotted field ``key`` of dataclass ``cls`` (ConfigError when there is none)."""
    tp: Any = cls
    for i, part in enumerate(key.split(".")):
        hints = get_type_hints(tp) if dataclasses.is_dataclass(tp) else {}
        if part not in hints:
            raise ConfigError(f"unknown config key '{'.'.join(key.split('.')[: i + 1])}'")
        tp = hints[part]
    return tp


def literal_choices(tp: Any) -> list[str] | None:
    """The string values of a ``Literal`` annotation (also inside ``X | None``); None for other types."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else None
    if get_origin(tp) is Literal and all(isinstance(a, str) for a in get_args(tp)):
        return list(get_args(tp))
    return None


# A shortcut flag: (flag, dotted config key, help). ``--mask 0.95`` is exactly ``--set model.mask_ratio=0.95``.
Shortcut = tuple[str, str, str]


def add_shortcuts(parser: Any, schema: type, table: Iterable[Shortcut]) -> None:
    """Add the flags of ``table`` to an argparse parser; choices come from the schema's annotations."""
    import argparse

    for flag, key, text in table:
        choices = literal_choices(annotation_of(schema, key))
        one_of = f"; one of {', '.join(choices)}" if choices else ""
        parser.add_argument(flag, dest=key, default=argparse.SUPPRESS, metavar=key.rsplit(".", 1)[-1].upper(),
                            choices=choices, help=f"{text}{one_of} ({key})")


def shortcut_overrides(args: Any, table: Iterable[Shortcut]) -> list[Override]:
    """The shortcut flags that were given, as overrides in table order."""
    given = vars(args)
    return [(key, given[key]) for _, key, _ in table if key in given]


def set_dotted(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set '{'.'.join(path)}': '{part}' is not a section")
        node = child
    node[path[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def build(cls: type[T], *layers: Mapping[str, Any], overrides: Iterable[Override] = ()) -> T:
    """Merge dict layers in order, apply dotted overrides, and validate into ``cls``."""
    data: dict[str, Any] = {}
    for layer in layers:
        data = merge(data, layer)
    for item in overrides:
        path, value = parse_override(item)
        set_dotted(data, path, value)
    return from_dict(cls, data)


def save_yaml(obj: Any, path: str | Path) -> None:
    from preprocessing.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(obj), sort_keys=False))

