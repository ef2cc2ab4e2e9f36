"""tfgvae.atomic: a write either lands whole or leaves the old file, and no temporary behind."""
import json
import os

import numpy as np
import pytest

from tfgvae import atomic


def test_json_text_and_npz_round_trip(tmp_path):
    atomic.write_json(tmp_path / "a.json", {"b": 1, "a": [1.5]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": [1.5], "b": 1}
    assert (tmp_path / "a.json").read_text().index('"a"') < (tmp_path / "a.json").read_text().index('"b"')
    atomic.write_text(tmp_path / "t.txt", "line\n")
    assert (tmp_path / "t.txt").read_text() == "line\n"
    atomic.save_npz(tmp_path / "x.npz", x=np.arange(3))
    with np.load(tmp_path / "x.npz") as z:
        np.testing.assert_array_equal(z["x"], [0, 1, 2])
    assert sorted(os.listdir(tmp_path)) == ["a.json", "t.txt", "x.npz"]


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    atomic.write_json(path, {"old": True})

    def fail(f):
        f.write("{\"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic.write(path, fail)
    assert json.loads(path.read_text()) == {"old": True} and os.listdir(tmp_path) == ["a.json"]
