"""Local artifact files: which files a registration takes from a path, and their sizes.

Everything is checked before the first byte is uploaded, so a bad input writes nothing. The
files are hashed while they are uploaded (`modelstore.transfer`), so each is read once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelstore.errors import InvalidModelFileError, ModelStoreError
from modelstore.names import validate_file_path

ONNX_PRIMARY = "model.onnx"


@dataclass(frozen=True)
class LocalFile:
    path: str  # stored name inside the version folder (POSIX, relative)
    source: Path
    size: int


@dataclass(frozen=True)
class Artifact:
    files: tuple[LocalFile, ...]
    primary: str
    framework: str

    @property
    def primary_source(self) -> Path:
        return next(f.source for f in self.files if f.path == self.primary)


def collect(path: Path, primary_name: str = ONNX_PRIMARY) -> Artifact:
    """A single file, or every regular file under a directory (recursively).

    A single file with the suffix of `primary_name` is stored as `primary_name` (a `*.onnx`
    file as `model.onnx`, the name the service expects); in a directory the primary file is
    `primary_name`, or the only file there is.
    """
    if not path.exists():
        raise InvalidModelFileError(str(path), "no such file or directory")
    if path.is_file():
        suffix = Path(primary_name).suffix
        stored = primary_name if path.suffix.lower() == suffix else path.name
        files: tuple[LocalFile, ...] = (_local_file(stored, path),)
        primary = stored
    elif path.is_dir():
        files = tuple(_local_file(_relative(p, path), p) for p in _walk(path))
        if not files:
            raise InvalidModelFileError(str(path), "the directory holds no files")
        names = {f.path for f in files}
        if primary_name in names:
            primary = primary_name
        elif len(files) == 1:
            primary = files[0].path
        else:
            raise InvalidModelFileError(
                str(path), f"several files and no {primary_name}: cannot tell the primary file"
            )
    else:
        raise InvalidModelFileError(str(path), "not a regular file or directory")
    framework = "onnx" if primary.lower().endswith(".onnx") else "other"
    return Artifact(files=files, primary=primary, framework=framework)


def _walk(root: Path) -> Iterator[Path]:
    for item in sorted(root.rglob("*")):
        if item.is_symlink():
            raise InvalidModelFileError(str(item), "symbolic links are not registered")
        if item.is_file():
            yield item
        elif not item.is_dir():  # a FIFO, socket or device: reading it would block or lie
            raise InvalidModelFileError(
                str(item), "not a regular file (a FIFO, socket or device); remove it"
            )


def _relative(item: Path, root: Path) -> str:
    return item.relative_to(root).as_posix()


def _local_file(stored: str, source: Path) -> LocalFile:
    try:
        validate_file_path(stored)
    except ModelStoreError as exc:
        raise InvalidModelFileError(str(source), str(exc)) from None
    try:
        with source.open("rb") as handle:  # readable, and its size once open
            handle.read(1)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise InvalidModelFileError(str(source), f"unreadable ({exc.strerror or exc})") from None
    if size == 0:
        raise InvalidModelFileError(str(source), "the file is empty")
    return LocalFile(path=stored, source=source, size=size)
