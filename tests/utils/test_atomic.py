import json

import numpy as np
import pytest

from echo_ihg.utils.atomic import atomic_dir, atomic_path, save_npy, write_json


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    dest = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_extension_and_replaces(tmp_path):
    dest = tmp_path / "a.npy"
    dest.write_text("old")
    with atomic_path(dest) as tmp:
        assert tmp.suffix == ".npy" and tmp.parent == tmp_path
        np.save(tmp, np.arange(3))
    assert np.load(dest).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_atomic_dir_replaces_whole_directory(tmp_path):
    dest = tmp_path / "session"
    dest.mkdir()
    (dest / "stale.txt").write_text("x")
    with atomic_dir(dest) as tmp:
        (tmp / "fresh.txt").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["fresh.txt"]
    with pytest.raises(ValueError):
        with atomic_dir(dest) as tmp:
            (tmp / "partial.txt").write_text("z")
            raise ValueError
    assert sorted(p.name for p in dest.iterdir()) == ["fresh.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session"]


def test_save_npy_and_write_json(tmp_path):
    save_npy(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    assert np.load(tmp_path / "x.npy").shape == (2, 3)
    write_json(tmp_path / "m.json", {"a": np.float32(1.5), "b": np.arange(2), "p": tmp_path})
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["a"] == 1.5 and data["b"] == [0, 1] and data["p"] == str(tmp_path)
