"""Version claims: allocating a number without a server, and taking over abandoned ones.

`<name>/versions/<n>/.claim` is created with `If-None-Match: *`; the registration that creates
it is the only writer under `versions/<n>/` until it publishes the manifest or gives the number
back. A claim records who holds it (host, pid) and when it was last seen alive (`alive`,
refreshed every CLAIM_HEARTBEAT by a background thread, If-Match). It is *abandoned* when its
holder is gone (its process on this host has exited, or it is this process and that
registration no longer runs, e.g. after Ctrl-C; or no heartbeat for CLAIM_STALE_AFTER) and it
never published (no manifest, not every file committed). A registration of the same files
(paths and sizes) takes an abandoned claim over (compare-and-swap on its ETag) and resumes its
upload; of other files, it says so and moves to the next number. Claims written before these
fields existed are never taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from modelstore.backend import Backend
from modelstore.errors import (
    BlobConflictError,
    BlobNotFoundError,
    BlobTooLargeError,
    ClaimLostError,
    StorageError,
    TooMuchContentionError,
)
from modelstore.manifest import canonical_json, utc_now
from modelstore.state import Index, Layout
from modelstore.transfer import Progress

MAX_CLAIM_PROBES = 10_000
CLAIM_HEARTBEAT = timedelta(seconds=30)  # how often a registration in progress says it is alive
CLAIM_STALE_AFTER = timedelta(minutes=3)  # silent this long: abandoned, whoever held it

_LIVE_CLAIMS: set[str] = set()  # tokens of the registrations running in this process


@contextlib.contextmanager
def live(token: str) -> Iterator[None]:
    """Mark a registration of this process as running (its claim is not abandoned)."""
    _LIVE_CLAIMS.add(token)
    try:
        yield
    finally:
        _LIVE_CLAIMS.discard(token)


class Claims:
    """The claim blobs of one kind of artifact (`layout`) in one container."""

    def __init__(
        self, backend: Backend, layout: Layout, read_index: Callable[[str], Index | None]
    ) -> None:
        self._backend, self._layout, self._read_index = backend, layout, read_index

    def take(  # noqa: PLR0917 - the registration's identity
        self,
        name: str,
        start: int,
        who: str | None,
        files: list[list[Any]],
        token: str,
        progress: Progress,
    ) -> Claim:
        """Allocate a version number: the first `.claim` blob we create wins the number; an
        abandoned claim of the same files is taken over (and its upload resumed)."""
        version = start
        for attempt in range(1, MAX_CLAIM_PROBES + 1):
            body = _claim_body(token, who, files)
            path = self._layout.claim_path(name, version)
            try:
                self._backend.put(path, body, create_only=True)
                return Claim(self, name, version, token, resumed=False)
            except BlobConflictError:
                held, etag = self.read(name, version)
                if held.get("token") == token:  # our retried write had landed
                    return Claim(self, name, version, token, resumed=False)
                if self._abandoned(name, version, held):
                    if held.get("files") != files:
                        progress.note(
                            f"{name} v{version}: an abandoned registration of other files; "
                            f"leaving it and registering the next number"
                        )
                    else:
                        with contextlib.suppress(BlobConflictError):
                            self._backend.put(path, body, if_match=etag)
                            progress.note(
                                f"{name} v{version}: resuming an interrupted registration"
                            )
                            return Claim(self, name, version, token, resumed=True)
            version += 1
            if attempt % 8 == 0:  # many in flight: jump to what the index has seen published
                index = self._read_index(name)
                if index is not None:
                    version = max(version, index.max_version + 1)
        raise TooMuchContentionError(f"allocating a version of {name!r}", MAX_CLAIM_PROBES)

    def read(self, name: str, version: int) -> tuple[dict[str, Any], str | None]:
        """The claim's fields ({} when missing or unreadable) and its ETag."""
        try:
            blob = self._backend.get(self._layout.claim_path(name, version))
        except (BlobNotFoundError, BlobTooLargeError):
            return {}, None
        try:
            held = json.loads(blob.data)
        except ValueError:
            return {}, blob.etag
        return (held if isinstance(held, dict) else {}), blob.etag

    def token(self, name: str, version: int) -> str | None:
        token = self.read(name, version)[0].get("token")
        return None if token is None else str(token)

    def give_back(self, name: str, version: int, paths: list[str], token: str) -> None:
        """Best-effort removal of a failed registration's files; the claim goes last."""
        with contextlib.suppress(StorageError):
            for path in paths:
                self._backend.delete(self._layout.file_path(name, version, path))
            if self.token(name, version) == token:
                self._backend.delete(self._layout.claim_path(name, version))

    def refresh(self, name: str, version: int, token: str) -> bool:
        """Move the claim's `alive` time on; False when it is no longer ours."""
        held, etag = self.read(name, version)
        if held.get("token") != token or etag is None:
            return False
        held["alive"] = utc_now().isoformat()
        try:
            path = self._layout.claim_path(name, version)
            self._backend.put(path, canonical_json(held), if_match=etag)
        except BlobConflictError:
            return False
        return True

    def _abandoned(self, name: str, version: int, held: dict[str, Any]) -> bool:
        """The claim's holder is gone and it never published (claims of old formats: never)."""
        try:
            alive = datetime.fromisoformat(str(held["alive"]))
            host, pid = str(held["host"]), int(held["pid"])
        except (KeyError, TypeError, ValueError):
            return False
        gone = utc_now() - alive > CLAIM_STALE_AFTER or (
            host == socket.gethostname() and not _holder_alive(pid, str(held.get("token")))
        )
        if not gone:
            return False
        # One with every file committed (or a manifest) had finished uploading: a version
        # whose manifest was removed since; its number is never reused.
        prefix = self._layout.version_prefix(name, version)
        stored = {b.name.removeprefix(prefix) for b in self._backend.list_blobs(prefix)}
        files = held.get("files")
        uploaded = isinstance(files, list) and all(
            isinstance(f, list) and f and f[0] in stored for f in files
        )
        return "manifest.json" not in stored and not uploaded


class Claim:
    """A version number held by this registration, kept alive while its files upload.

    As a context manager, a background thread refreshes the claim's `alive` time every
    CLAIM_HEARTBEAT (so a stalled upload still looks alive); `check` raises `ClaimLostError`
    once another registration has taken the claim over.
    """

    def __init__(
        self, claims: Claims, name: str, version: int, token: str, *, resumed: bool
    ) -> None:
        self.version, self.token, self.resumed = version, token, resumed
        self._claims, self._name = claims, name
        self._stop = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._beat, name="claim-heartbeat", daemon=True)

    def __enter__(self) -> Claim:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        if self._lost:
            raise ClaimLostError(self._name, self.version)

    def _beat(self) -> None:
        while not self._stop.wait(CLAIM_HEARTBEAT.total_seconds()):
            with contextlib.suppress(StorageError):  # a missed beat: the next one may land
                self._lost = not self._claims.refresh(self._name, self.version, self.token)
            if self._lost:
                return


def _claim_body(token: str, who: str | None, files: list[list[Any]]) -> bytes:
    now = utc_now().isoformat()
    return canonical_json(
        {
            "token": token,
            "by": who,
            "at": now,
            "alive": now,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "files": files,
        }
    )


def _holder_alive(pid: int, token: str) -> bool:
    """Whether the process on this host that wrote a claim still works on it."""
    if pid == os.getpid():  # ours: alive only while that registration runs (not after Ctrl-C)
        return token in _LIVE_CLAIMS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
