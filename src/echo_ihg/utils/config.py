"""Frozen-dataclass configs: the dataclass holds the defaults; YAML files and CLI flags only override.

    cfg = load_config(TrainConfig, yaml_path="my.yaml", overrides=["optim.lr=3e-4", "steps=2000"])
    dump_config(cfg, out_dir / "config.json")   # the resolved config, next to every output

CLI sub-commands add the matching `--config YAML` / `--set KEY=VALUE` options with `add_config_arguments`.

Nested dataclasses are addressed with dots. Unknown keys are errors (a typo must not silently do nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml

from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import write_json

T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    return _plain(out)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def config_from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build `cls` from a (possibly partial) dict; missing keys keep the dataclass defaults."""
    if not isinstance(data, dict):
        raise InputError(None, f"{source}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise InputError(None, f"{source}: unknown key {key!r} for {cls.__name__} "
                                   f"(known: {', '.join(sorted(fields))})")
        kwargs[key] = _coerce(hints[key], value, f"{source}.{key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, where)
    if isinstance(value, str) and (hint is Path or Path in typing.get_args(hint)):
        return Path(value)
    origin = typing.get_origin(hint)
    if origin in (tuple,) and isinstance(value, (list, tuple)):
        return tuple(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Apply `a.b.c=value` strings (values parsed as YAML scalars) to a frozen dataclass."""
    values = {}
    for item in overrides:
        if "=" not in item:
            raise InputError(None, f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        values[key.strip()] = yaml.safe_load(raw)
    return apply_values(cfg, values, "override")


def apply_values(cfg: T, values: Mapping[str, Any], source: str = "flags") -> T:
    """Set fields of a frozen dataclass by dotted key (`{"generation.steps": 4}`); None values are skipped
    (a CLI flag that was not given). A key that is no field of `cfg` but a field of exactly one of its nested
    sections addresses that section (`steps` = `generation.steps`): the flat names of earlier versions."""
    data = config_to_dict(cfg)
    for key, value in values.items():
        if value is None:
            continue
        node, parts = data, _resolve_key(data, key, source)
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return config_from_dict(type(cfg), data, source)


def _resolve_key(data: dict[str, Any], key: str, source: str) -> list[str]:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise InputError(None, f"{source} {key!r}: {p!r} is not a config section")
        node = node[p]
    if parts[-1] in node:
        return parts
    owners = [k for k, v in node.items() if isinstance(v, dict) and parts[-1] in v]
    if len(owners) != 1:
        raise InputError(None, f"{source} {key!r}: unknown key {parts[-1]!r}")
    return parts[:-1] + [owners[0], parts[-1]]


def add_config_arguments(parser: argparse.ArgumentParser, config_name: str, example: str) -> None:
    """Add `--config YAML` (args.config) and repeatable `--set KEY=VALUE` (args.overrides), the two
    arguments `load_config` takes. config_name: the dataclass, for the help; example: one KEY=VALUE."""
    parser.add_argument("--config", default=None, help=f"YAML file overriding {config_name} fields")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override one {config_name} field (repeatable), e.g. --set {example}")


def load_config(cls: type[T], yaml_path: str | Path | None = None,
                overrides: Iterable[str] = (), base: T | None = None, flags: Mapping[str, Any] | None = None) -> T:
    """`base` (default: `cls()`, the dataclass defaults) + the YAML file + the `key=value` overrides + the
    CLI's own flags (`{"generation.steps": args.steps, ...}`; None = not given), in that order: the one way
    every command merges its flags. base: a starting config other than the defaults (e.g. the one stored
    with a run being resumed). Nested sections in the YAML are merged field by field."""
    cfg = base if base is not None else cls()
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise InputError(path, "config file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(path, f"not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(path, f"expected a mapping of {cls.__name__} fields")
        cfg = config_from_dict(cls, _merged(config_to_dict(cfg), data), str(path))
    return apply_values(apply_overrides(cfg, overrides), flags or {})


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over `base`, nested sections field by field."""
    out = dict(base)
    for k, v in update.items():
        out[k] = _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def check_config(name: str, checks: Iterable[tuple[bool, str]]) -> None:
    """A config's `__post_init__` check: one InputError listing every failed (ok, problem) pair."""
    problems = [problem for ok, problem in checks if not ok]
    if problems:
        raise InputError(None, f"invalid {name} config: " + "; ".join(problems))


def dump_config(cfg: Any, dest: str | Path) -> None:
    write_json(dest, config_to_dict(cfg))
