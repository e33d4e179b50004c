import pytest

from echo_ihg.errors import InputError
from echo_ihg.utils.jsonio import read_json


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
