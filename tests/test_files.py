"""`files.write_text_atomic`: the new content whole, or the old one untouched and no temporary file left."""

from __future__ import annotations

import pytest

from minigemini import files
from minigemini.files import write_text_atomic


def test_writes_the_whole_text_and_creates_the_folder(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_text_atomic(path, "é\n")
    assert path.read_text(encoding="utf-8") == "é\n" and [p.name for p in path.parent.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
