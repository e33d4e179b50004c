import json
from dataclasses import dataclass, field

import pytest

from echo_ihg.errors import InputError
from echo_ihg.utils.config import apply_overrides, dump_config, load_config


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)


@dataclass(frozen=True)
class Train:
    steps: int = 100
    name: str = "run"
    optim: Optim = field(default_factory=Optim)


def test_defaults_yaml_and_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("steps: 7\noptim:\n  lr: 0.5\n")
    cfg = load_config(Train, y, ["name=x", "optim.betas=[0.1, 0.2]"])
    assert cfg == Train(steps=7, name="x", optim=Optim(lr=0.5, betas=(0.1, 0.2)))
    dump_config(cfg, tmp_path / "resolved.json")
    assert json.loads((tmp_path / "resolved.json").read_text())["optim"]["lr"] == 0.5


def test_unknown_keys_are_errors(tmp_path):
    with pytest.raises(InputError, match="unknown key 'stepz'"):
        apply_overrides(Train(), ["stepz=3"])
    y = tmp_path / "bad.yaml"
    y.write_text("optim:\n  lrr: 1\n")
    with pytest.raises(InputError, match="bad.yaml"):
        load_config(Train, y)
    with pytest.raises(InputError, match="not found"):
        load_config(Train, tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="key=value"):
        apply_overrides(Train(), ["steps"])


def test_base_config_is_the_starting_point(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("optim:\n  lr: 0.5\n")
    base = Train(steps=42, name="stored")
    cfg = load_config(Train, y, ["name=x"], base=base)
    assert cfg == Train(steps=42, name="x", optim=Optim(lr=0.5))   # base kept where YAML/--set are silent
    assert load_config(Train, base=base) == base


def test_flags_come_last_and_nested_sections_merge_field_by_field(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("optim:\n  betas: [0.1, 0.2]\n")
    base = Train(optim=Optim(lr=0.5))
    cfg = load_config(Train, y, ["steps=3"], base=base, flags={"steps": 9, "name": None, "optim.lr": 0.25})
    assert cfg == Train(steps=9, optim=Optim(lr=0.25, betas=(0.1, 0.2)))     # None: a flag not given
    # a flat key owned by exactly one nested section addresses it (the flat names of earlier versions)
    assert apply_overrides(Train(), ["lr=0.125"]).optim.lr == 0.125
