"""relbert.io's atomic writers: a file or folder is seen whole (the old one or the new one), never
half-written, and a failure leaves the old one and no temporary behind."""
from __future__ import annotations

import pytest

from relbert.atomic import atomic_folder, atomic_output, replace_folder, write_json_atomic


def test_atomic_folder_replaces_the_old_folder_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target) as tmp:
        assert tmp != target and tmp.is_dir()
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").read_text() == "old"  # untouched until the block ends
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failure_keeps_the_old_folder_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state"
    target.mkdir()
    (target / "state.json").write_text("{}")
    (tmp_path / "state.tmp").mkdir()  # left by a killed run: cleared, not mixed in
    (tmp_path / "state.tmp" / "stale").write_text("x")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_folder(target) as tmp:
            assert not (tmp / "stale").exists()
            (tmp / "half.safetensors").write_bytes(b"\0" * 10)
            raise RuntimeError("disk full")
    assert sorted(p.name for p in target.iterdir()) == ["state.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_files_are_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"a": 1})
    assert path.read_text() == '{"a": 1}\n'
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path) as handle:
            handle.write(b"{half")
            raise KeyboardInterrupt
    assert path.read_text() == '{"a": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_replace_folder_moves_a_finished_folder_over_an_existing_one(tmp_path):
    done, target = tmp_path / "done", tmp_path / "target"
    done.mkdir()
    (done / "w").write_text("new")
    target.mkdir()
    (target / "w").write_text("old")
    (target / "extra").write_text("gone with the old folder")
    replace_folder(done, target)
    assert not done.exists() and sorted(p.name for p in target.iterdir()) == ["w"] and (target / "w").read_text() == "new"
