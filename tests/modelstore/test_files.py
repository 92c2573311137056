from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelstore.errors import InvalidModelFileError
from modelstore.files import collect


def unreadable_file(tmp_path: Path) -> Path:
    """A regular file that cannot be read. Root ignores permissions, so use /proc/self/mem."""
    if os.geteuid() == 0:
        return Path("/proc/self/mem")
    path = tmp_path / "secret.onnx"
    path.write_bytes(b"x")
    path.chmod(0)
    return path


def test_single_onnx_file_is_stored_as_model_onnx(tmp_path: Path) -> None:
    source = tmp_path / "digits.onnx"
    source.write_bytes(b"abc")
    artifact = collect(source)
    assert artifact.primary == "model.onnx"
    assert artifact.framework == "onnx"
    (entry,) = artifact.files
    assert (entry.path, entry.size) == ("model.onnx", 3)  # hashed later, while it uploads


def test_directory_takes_every_file_and_model_onnx_is_primary(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"m")
    (tmp_path / "labels.json").write_text("[]")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "notes.txt").write_text("n")
    artifact = collect(tmp_path)
    assert [f.path for f in artifact.files] == ["extra/notes.txt", "labels.json", "model.onnx"]
    assert artifact.primary == "model.onnx"


def test_directory_without_a_primary_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"b")
    with pytest.raises(InvalidModelFileError, match="primary"):
        collect(tmp_path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    source.touch()
    with pytest.raises(InvalidModelFileError, match="empty"):
        collect(source)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelFileError, match="no files"):
        collect(tmp_path)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelFileError, match="unreadable"):
        collect(unreadable_file(tmp_path))


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelFileError, match="no such file"):
        collect(tmp_path / "nope.onnx")


def test_hidden_files_and_symlinks_in_a_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"m")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    with pytest.raises(InvalidModelFileError, match=r"\.DS_Store"):
        collect(tmp_path)
    (tmp_path / ".DS_Store").unlink()
    (tmp_path / "link.onnx").symlink_to(tmp_path / "model.onnx")
    with pytest.raises(InvalidModelFileError, match="symbolic links"):
        collect(tmp_path)


def test_a_fifo_in_a_directory_is_refused_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    os.mkfifo(tmp_path / "weights.bin")
    with pytest.raises(InvalidModelFileError, match=r"weights\.bin.*not a regular file"):
        collect(tmp_path)
