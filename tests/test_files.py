"""Atomic writes: the file appears whole when the block ends, and an error leaves the old file and no
temporary one behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerf.files import atomic_path


def test_a_finished_write_replaces_the_file_and_a_failed_one_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "result.json"
    with atomic_path(target) as partial:
        partial.write_text("first")
        assert not target.exists() and partial.parent == target.parent  # a rename within one folder
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as partial:
        partial.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "first" and sorted(p.name for p in target.parent.iterdir()) == ["result.json"]
