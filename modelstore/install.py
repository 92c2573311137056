"""Putting a verified download in place on the local disk, all or nothing.

`ModelStore.download` verifies every file in a staging directory beside the target; only then
does `install` move them in: one atomic rename into an empty or missing target, or one undoable
rename per file into a filled one (what was there goes to a backup and comes back on failure).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from modelstore.errors import DestinationError, ManifestCorruptError
from modelstore.manifest import Manifest


def target_inside(dest: Path, manifest: Manifest, path: str) -> Path:
    """`dest / path`, refused unless it resolves inside `dest` (defence in depth: manifest
    paths are validated when parsed, but a symlink under `dest` could still lead out)."""
    target = dest / path
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ManifestCorruptError(
            manifest.name, manifest.version, f"file path {path!r} leads outside {dest}"
        )
    return target


def install(staging: Path, dest: Path, paths: list[str]) -> None:
    """Move the verified files from `staging` into `dest`, all or nothing."""
    if not dest.exists() or not any(dest.iterdir()):
        staging.chmod(0o755)  # mkdtemp made it 0700; a model directory is read by the service
        try:
            staging.rename(dest)  # atomic; rename(2) replaces an empty directory
        except OSError as exc:
            raise DestinationError(str(dest), exc.strerror or str(exc)) from None
        return
    moves = _Moves(dest, staging / ".previous")
    try:
        for path in paths:
            moves.put(staging / path, path)
    except BaseException as exc:
        moves.undo()
        if isinstance(exc, OSError):
            raise DestinationError(str(dest), exc.strerror or str(exc)) from None
        raise


class _Moves:
    """Renames into a filled directory, each undoable: what was at a target goes to `backup`."""

    def __init__(self, dest: Path, backup: Path) -> None:
        self.dest, self.backup = dest, backup
        self.done: list[tuple[Path, Path | None]] = []  # (target, where its old entry went)
        self.made: list[Path] = []  # directories created under dest, parents first

    def put(self, source: Path, path: str) -> None:
        target = self.dest / path
        for parent in reversed(Path(path).parents[:-1]):
            folder = self.dest / parent
            if not folder.is_dir():
                folder.mkdir()
                self.made.append(folder)
        if target.is_dir() and not target.is_symlink():
            raise DestinationError(str(self.dest), f"{path} is a directory there")
        previous: Path | None = None
        if target.exists() or target.is_symlink():
            previous = self.backup / path
            previous.parent.mkdir(parents=True, exist_ok=True)
            target.rename(previous)
        self.done.append((target, previous))
        source.rename(target)

    def undo(self) -> None:
        for target, previous in reversed(self.done):
            with contextlib.suppress(OSError):
                if previous is not None:
                    previous.rename(target)
                else:
                    target.unlink(missing_ok=True)
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()
