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


def test_read_and_load_safetensors(tmp_path):
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from echo_ihg.utils.readers import load_safetensors, read_safetensors

    save_file({"w": torch.arange(6.0).reshape(2, 3)}, str(tmp_path / "a.safetensors"), metadata={"k": "v"})
    tensors, meta = read_safetensors(tmp_path / "a.safetensors")
    assert tensors["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and meta == {"k": "v"}
    arrays, _ = read_safetensors(tmp_path / "a.safetensors", framework="numpy")
    assert isinstance(arrays["w"], np.ndarray) and arrays["w"].shape == (2, 3)
    assert set(load_safetensors(tmp_path / "a.safetensors")) == {"w"}
    save_file({"w": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    assert read_safetensors(tmp_path / "plain.safetensors")[1] == {}
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(InputError, match="junk.safetensors.*not a readable safetensors file"):
        load_safetensors(tmp_path / "junk.safetensors")
    whole = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(whole[:len(whole) - 8])
    with pytest.raises(InputError, match="cut.safetensors.*not a readable safetensors file"):
        load_safetensors(tmp_path / "cut.safetensors")
    with pytest.raises(InputError, match="missing.safetensors.*no weights here"):
        load_safetensors(tmp_path / "missing.safetensors", missing="no weights here")
