"""Moving file bytes between the local disk and Blob storage: parallel, hashed once, resumable.

Upload: one reader walks the file once, in order, hashing as it reads; each block goes to a
pool of `concurrency` uploaders (`stage_block`), and the blob is created from the blocks in one
create-only `commit_blocks` carrying the sha256 as metadata. A block's id is its index and the
sha256 of the whole file up to the block's end, so a staged block is reused (a resumed upload)
only when every byte before it and in it is the same as now. A file of one block or less is one
create-only PUT. Memory: at most `concurrency + 2` blocks are held at once.

Download: ranges are fetched by `concurrency` workers and written at their offsets into a
preallocated file; the caller's thread hashes them in file order as they land (from the page
cache, so no range waits in memory for a slower one before it), so a wrong size, a missing
blob or a range with wrong bytes fails the file (`ChecksumMismatchError`) before the caller
puts anything in place. Verifying without a file holds at most `concurrency + 2` ranges.

Progress goes to a `Progress` (per file: start, advance by bytes, finish); `NO_PROGRESS` by
default. Retries of transient faults happen per request, in the backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelstore.backend import Backend
from modelstore.errors import (
    BlobConflictError,
    BlobNotFoundError,
    ChecksumMismatchError,
    DestinationError,
    FileChangedError,
    IntegrityError,
    InvalidInputError,
)
from modelstore.install import install, target_inside
from modelstore.manifest import FileEntry, Manifest
from modelstore.state import Layout

MIB = 1024 * 1024
BLOCK_ID_DIGITS = 6  # block index; with 56 hex digits of the prefix sha256: 63 characters
MAX_BLOCKS = 50_000  # Azure's limit of blocks in one blob
RANGES_AHEAD = 64  # ranges of a download requested before the oldest one is hashed


class Progress(Protocol):
    """Told about each file's bytes; called from worker threads (implementations lock)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, label: str, done: int) -> None: ...

    def finish(self, label: str) -> None: ...

    def note(self, text: str) -> None:
        """A line for the person waiting (e.g. that a registration resumed)."""
        ...


class _NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, label: str, done: int) -> None:
        pass

    def finish(self, label: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass(frozen=True)
class TransferSettings:
    """Sizes and parallelism of big transfers (tests use small blocks on small files)."""

    block_size: int = 4 * MIB  # the SDK's block size; 8 MiB blocks measured no faster
    # Two blocks, and the backend's BULK_READ_PIECE (one piece per range). Not 4 MiB: Azurite
    # reads a range of up to 4 MiB twice to compute its MD5 (~2.5x its CPU per byte).
    range_size: int = 8 * MIB
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.block_size < 1 or self.range_size < 1 or self.concurrency < 1:
            raise InvalidInputError("block size, range size and concurrency must be positive")


@dataclass(frozen=True)
class Uploaded:
    sha256: str
    size: int
    sent: int  # bytes sent in this call; the rest were reused from an earlier attempt


def block_id(index: int, prefix_sha256: str) -> str:
    """Same length for every block of a blob, at most 64 characters (Azure's rules)."""
    return f"{index:0{BLOCK_ID_DIGITS}d}-{prefix_sha256[:56]}"


def upload_file(
    backend: Backend,
    path: str,
    source: Path,
    *,
    settings: TransferSettings,
    progress: Progress = NO_PROGRESS,
    label: str | None = None,
    resume: bool = False,
    tick: Callable[[], None] = lambda: None,
) -> Uploaded:
    """Upload `source` create-only to `path`, hashing while reading; returns what was stored.

    With `resume`, blocks already staged under `path` (an interrupted attempt) that hold the
    same bytes are committed without being sent again. A blob already at `path` is accepted
    only when it is these bytes (a retried attempt whose reply was lost). `tick` runs between
    blocks (the caller's claim heartbeat). FileChangedError when the file changes meanwhile.
    """
    name = label or path
    before = _stat(source)
    if -(-before.st_size // settings.block_size) > MAX_BLOCKS:
        raise InvalidInputError(
            f"{source} needs more than {MAX_BLOCKS} blocks of {settings.block_size} bytes"
        )
    progress.start(name, before.st_size)
    try:
        if before.st_size <= settings.block_size:
            result = _upload_small(backend, path, source, before.st_size)
        else:
            result = _upload_blocks(
                backend, path, source, before.st_size, settings, progress, name, resume, tick
            )
        after = _stat(source)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise FileChangedError(str(source))
        return result
    finally:
        progress.finish(name)


def _stat(source: Path) -> os.stat_result:
    return source.stat()


def _upload_small(backend: Backend, path: str, source: Path, size: int) -> Uploaded:
    data = source.read_bytes()
    if len(data) != size:
        raise FileChangedError(str(source))
    digest = hashlib.sha256(data).hexdigest()
    try:
        backend.put(path, data, metadata={"sha256": digest}, create_only=True)
    except BlobConflictError:
        # Our claim makes us the only writer under versions/<n>/, so this is normally our
        # own earlier attempt whose reply was lost. Accept it only if the bytes are ours.
        if stored_sha256(backend, path, size) != digest:
            raise
    return Uploaded(sha256=digest, size=size, sent=size)


def _upload_blocks(  # noqa: PLR0917 - the one worker behind `upload_file`
    backend: Backend,
    path: str,
    source: Path,
    size: int,
    settings: TransferSettings,
    progress: Progress,
    label: str,
    resume: bool,
    tick: Callable[[], None],
) -> Uploaded:
    staged = backend.staged_blocks(path) if resume else {}
    digest = hashlib.sha256()
    ids: list[str] = []
    read = sent = 0
    slots = threading.BoundedSemaphore(settings.concurrency + 2)
    pending: deque[Future[None]] = deque()

    def stage(block: str, data: bytes) -> None:
        try:
            backend.stage_block(path, block, data)
            progress.advance(label, len(data))
        finally:
            slots.release()

    with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="upload") as pool:
        try:
            with source.open("rb", buffering=0) as handle:
                while True:
                    slots.acquire()
                    data = handle.read(settings.block_size)
                    if not data:
                        slots.release()
                        break
                    digest.update(data)
                    read += len(data)
                    block = block_id(len(ids), digest.copy().hexdigest())
                    ids.append(block)
                    if staged.get(block) == len(data):
                        slots.release()
                        progress.advance(label, len(data))
                    else:
                        sent += len(data)
                        pending.append(pool.submit(stage, block, data))
                    while pending and pending[0].done():
                        pending.popleft().result()  # the first failure stops the reading
                    tick()
            while pending:
                pending.popleft().result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    if read != size:
        raise FileChangedError(str(source))
    hexdigest = digest.hexdigest()
    tick()  # still ours: commit
    _commit(backend, path, ids, size, hexdigest, reused=sent < size)
    return Uploaded(sha256=hexdigest, size=size, sent=sent)


def _commit(  # noqa: PLR0917 - the commit step of `_upload_blocks`
    backend: Backend, path: str, ids: list[str], size: int, expected: str, reused: bool
) -> None:
    """Commit the blocks; a blob committed from blocks this call did not send is read back
    whole: a block's id names its bytes, but the store never checks that it holds them (anyone
    with write access may stage other bytes under the id). On a mismatch the blob is deleted, so
    the next attempt sends every block again. Costs one read of the file, only on a resumed
    upload (or a commit whose reply was lost)."""
    try:
        backend.commit_blocks(path, ids, metadata={"sha256": expected})
    except BlobConflictError:
        # A commit whose reply was lost, or a resumed upload that had committed already.
        if backend.committed_blocks(path) != ids:
            raise
        reused = True
    if not reused:
        return
    actual = stored_sha256(backend, path, size)
    if actual != expected:
        backend.delete(path)
        raise IntegrityError(
            f"{path}: the blocks staged by an earlier attempt do not hold this file's bytes "
            f"(sha256 {expected}, stored {actual or 'other'}); deleted, register again"
        )


def stored_sha256(backend: Backend, path: str, limit: int) -> str | None:
    """sha256 of a stored blob, None when it is missing or longer than `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in backend.read_chunks(path):
            size += len(chunk)
            if size > limit:
                return None
            digest.update(chunk)
    except BlobNotFoundError:
        return None
    return digest.hexdigest()


def fetch_file(
    backend: Backend,
    path: str,
    entry: FileEntry,
    owner: tuple[str, int],
    *,
    out: int | None,
    settings: TransferSettings,
    progress: Progress = NO_PROGRESS,
) -> None:
    """Fetch the blob at `path` in parallel ranges, checking it against `entry` (size, sha256).

    Each range is written at its offset into the open file descriptor `out` (None: only
    verify) and hashed in file order as it arrives; any difference raises
    `ChecksumMismatchError` for `owner` (name, version) once the bytes are in hand.
    """
    name, version = owner

    def mismatch(expected: str, actual: str, what: str = "sha256") -> ChecksumMismatchError:
        return ChecksumMismatchError(name, version, entry.path, expected, actual, what)

    progress.start(entry.path, entry.size)
    try:
        if out is not None:
            os.ftruncate(out, entry.size)  # preallocated: ranges land at their offsets
        step = settings.range_size
        digest = hashlib.sha256()

        def fetch(offset: int) -> bytes:
            length = min(step, entry.size - offset)
            try:
                data, seen = backend.read_range(path, offset, length or 1)
            except BlobNotFoundError:
                raise mismatch(entry.sha256, "missing", "file") from None
            if seen != entry.size or len(data) != length:
                raise mismatch(str(entry.size), f"{seen}{'+' if seen > entry.size else ''}", "size")
            if out is not None:
                os.pwrite(out, data, offset)
            progress.advance(entry.path, len(data))
            return b"" if out is not None else data  # on disk: hashed from the page cache

        # The first range is requested with the others (the manifest gives the size): the
        # results are taken in file order, so a missing blob or a wrong size is still reported
        # from the first range.
        offsets = deque(range(0, entry.size, step)) or deque([0])
        window: deque[tuple[int, Future[bytes]]] = deque()

        # Verifying only, ranges wait in memory to be hashed in order (a few). Into a file, a
        # landed range is hashed from the page cache once every range before it has landed,
        # so a slow range holds up no worker and no memory.
        ahead = settings.concurrency + 2 if out is None else RANGES_AHEAD
        with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="download") as pool:
            try:
                while offsets or window:
                    while offsets and len(window) < ahead:
                        offset = offsets.popleft()
                        window.append((offset, pool.submit(fetch, offset)))
                    offset, future = window.popleft()
                    data = future.result()
                    if out is not None:
                        data = os.pread(out, min(step, entry.size - offset), offset)
                    digest.update(data)
            except BaseException:
                for _offset, future in window:
                    future.cancel()
                raise
        if digest.hexdigest() != entry.sha256:
            raise mismatch(entry.sha256, digest.hexdigest())
    finally:
        progress.finish(entry.path)


def download_version(
    backend: Backend,
    layout: Layout,
    manifest: Manifest,
    dest: Path,
    *,
    settings: TransferSettings,
    progress: Progress = NO_PROGRESS,
) -> None:
    """Write the version's files and `manifest.json` into `dest`, all or nothing.

    Every file is fetched into a staging directory beside `dest` while its sha256 and size are
    checked; only when every file matched is anything put in place. A missing or empty `dest`
    is replaced by the staging directory in one rename; into a directory that holds other
    files, each file is renamed into place (the manifest last) and a failure part way puts back
    what was there (`DestinationError`). On any failure the destination is as it was and the
    staging directory is removed.
    """
    if dest.exists() and not dest.is_dir():
        raise DestinationError(str(dest), "it is not a directory")
    paths = [entry.path for entry in manifest.files]
    if dest.is_dir():
        for path in paths:
            target_inside(dest, manifest, path)
    made = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    owner = (manifest.name, manifest.version)
    try:
        for entry in manifest.files:
            staged = staging / entry.path
            staged.parent.mkdir(parents=True, exist_ok=True)
            blob = layout.file_path(manifest.name, manifest.version, entry.path)
            fd = os.open(staged, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                fetch_file(
                    backend, blob, entry, owner, out=fd, settings=settings, progress=progress
                )
            finally:
                os.close(fd)
        (staging / "manifest.json").write_bytes(
            manifest.model_dump_json(indent=2).encode("utf-8") + b"\n"
        )
        install(staging, dest, [*paths, "manifest.json"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # the parents this download created, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify_version(
    backend: Backend,
    layout: Layout,
    manifest: Manifest,
    *,
    settings: TransferSettings,
    progress: Progress = NO_PROGRESS,
) -> None:
    """Re-hash every stored file of the version against its manifest (nothing on disk)."""
    owner = (manifest.name, manifest.version)
    for entry in manifest.files:
        blob = layout.file_path(manifest.name, manifest.version, entry.path)
        fetch_file(backend, blob, entry, owner, out=None, settings=settings, progress=progress)
