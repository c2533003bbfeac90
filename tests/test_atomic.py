"""bench.base.atomic: the one way files are replaced (results, reports, caches)."""

from pathlib import Path

import numpy as np
import pytest

from bench.base.atomic import replacing, write_text_atomic


def test_a_finished_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "points.parquet"
    path.write_bytes(b"old rows")
    with pytest.raises(RuntimeError):
        with replacing(path, durable=True) as tmp:
            tmp.write_bytes(b"half of the new ro")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old rows"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.parquet"]


def test_the_temporary_keeps_the_suffix_so_numpy_writes_where_it_is_told(tmp_path):
    path = tmp_path / "ref-features.npz"
    with replacing(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npz" and tmp.name.startswith(".")
        np.savez(tmp, features=np.arange(3))  # savez would append .npz to any other name
    assert np.load(path)["features"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref-features.npz"]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    path = tmp_path / "report.html"
    write_text_atomic(path, "<p>")
    reference = tmp_path / "plain.html"
    reference.write_text("<p>")
    assert Path(path).stat().st_mode == reference.stat().st_mode
