import pytest

from echo_ihg.errors import InputError
from echo_ihg.utils.readers import read_json


def test_read_json(tmp_path):
    good = tmp_path / "a.json"
    good.write_text('{"x": [1, 2]}')
    assert read_json(good) == {"x": [1, 2]}
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(InputError, match="bad.json.*not valid JSON"):
        read_json(bad)
    with pytest.raises(InputError, match="missing.json.*no session here"):
        read_json(tmp_path / "missing.json", missing="no session here")


def test_load_npy(tmp_path):
    import numpy as np

    from echo_ihg.utils.readers import load_npy

    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    assert load_npy(tmp_path / "a.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert load_npy(tmp_path / "a.npy", mmap=True).shape == (2, 3)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npy.*not a readable .npy array"):
        load_npy(tmp_path / "junk.npy")
    with pytest.raises(InputError, match="missing.npy.*file not found"):
        load_npy(tmp_path / "missing.npy")
