"""A run lock on Azure Blob: a blob lease, renewed in the background while the run lasts.

Two concurrent bot runs: the first acquires the lease, the second sees 409 and exits cleanly.
If a holder dies, its lease expires after `duration` seconds and the next run proceeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from bot.errors import BotError


class LockHeldError(BotError):
    """Another run holds the lock."""


class LockError(BotError):
    """The lock could not be taken or kept for a reason other than contention."""


LOCK_BLOB = "locks/promotion-bot"
#: `ensure_held` refuses writes once the last renewal is older than (1 - this) x the lease.
RENEWAL_MARGIN = 1 / 3


def _ensure_blob(container: ContainerClient, name: str) -> BlobClient:
    try:
        blob = container.get_blob_client(name)
        with suppress(ResourceExistsError):
            container.create_container()
        with suppress(ResourceExistsError):
            blob.upload_blob(b"", overwrite=False)
    except HttpResponseError as exc:
        if exc.status_code == 400:  # InvalidResourceName and the like
            raise LockError(
                f"cannot create the run lock in container {container.container_name!r} "
                f"(BOT_LOCK_CONTAINER): {exc.reason}"
            ) from exc
        raise LockError(f"cannot create the run lock blob: {exc.reason}") from exc
    except (ValueError, AzureError) as exc:  # unreachable endpoint, bad URL
        raise LockError(
            f"cannot reach the lock store (BOT_LOCK_CONTAINER {container.container_name!r} at "
            f"{container.primary_hostname}): {type(exc).__name__}"
        ) from exc
    return blob


class LeaseHandle:
    """The held lease: `ensure_held()` before every remote write refuses to write once it is lost.

    The lease counts as lost when a renewal was refused (409/412: someone broke or took it), or
    when `duration` seconds have passed since the last renewal was sent (storage unreachable:
    the lease expires by itself and another run may hold it by now).

    `ensure_held()` fails closed earlier, `RENEWAL_MARGIN` of the duration before that: a write
    it lets through still has that long to land while the lease is surely ours. It reads the
    monotonic clock, not the renewal thread, so a step that starves the thread (a C extension
    holding the GIL, a stopped process) cannot make an old lease look fresh."""

    def __init__(self, lease_id: str, duration: int, acquired_at: float) -> None:
        self.id = lease_id
        self.duration = duration
        self.margin = duration * RENEWAL_MARGIN
        self._guard = threading.Lock()
        self._renewed_at = acquired_at  # counted from the request: never too late
        self._lost: str | None = None

    @property
    def _valid_until(self) -> float:
        return self._renewed_at + self.duration

    def renewed(self, sent_at: float) -> None:
        with self._guard:
            self._renewed_at = sent_at

    def lose(self, why: str) -> None:
        with self._guard:
            self._lost = self._lost or why

    def expires_in(self) -> float:
        with self._guard:
            return self._valid_until - time.monotonic()

    def lost(self) -> str | None:
        with self._guard:
            if self._lost is None and time.monotonic() >= self._valid_until:
                self._lost = f"not renewed for {self.duration}s (storage unreachable?)"
            return self._lost

    def ensure_held(self) -> None:
        """Raise LockError if the lease was lost: the run must not write anything more."""
        why = self.lost()
        if why is None:
            with self._guard:
                age = time.monotonic() - self._renewed_at
            if age >= self.duration - self.margin:
                why = (
                    f"not renewed for {age:.1f}s, too close to its {self.duration}s expiry "
                    "(renewal starved or storage unreachable?)"
                )
        if why is not None:
            raise LockError(f"lost the run lock: {why}; stopped before writing")


def _renew_loop(lease: BlobLeaseClient, handle: LeaseHandle, stop: threading.Event) -> None:
    """Renew every duration/3 s; on a transient error retry with a short backoff until expiry."""
    wait = handle.duration / 3
    while not stop.wait(wait):
        sent_at = time.monotonic()
        try:
            # no SDK retries (they back off for a minute): this loop retries, bounded by expiry
            lease.renew(retry_total=0, connection_timeout=max(1.0, handle.duration / 5))
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):  # broken or taken by someone else: definitely lost
                handle.lose(f"renewal refused ({exc.status_code} {exc.reason})")
                return
        except AzureError:  # connection refused, timeout, ...: transient until the lease expires
            pass
        else:
            handle.renewed(sent_at)
            wait = handle.duration / 3
            continue
        if handle.lost() is not None:
            return
        wait = max(0.0, min(1.0, handle.expires_in()))


@contextmanager
def run_lock(
    container: ContainerClient, name: str = LOCK_BLOB, duration: int = 30
) -> Iterator[LeaseHandle]:
    """Hold a lease on `name` for the body of the `with`; renew every duration/3 seconds."""
    blob = _ensure_blob(container, name)
    lease = BlobLeaseClient(blob)
    acquired_at = time.monotonic()
    try:
        lease.acquire(lease_duration=duration)
    except HttpResponseError as exc:
        if exc.status_code == 409:
            raise LockHeldError(
                f"another promotion-bot run holds the lock ({container.container_name}/{name}); "
                "nothing done"
            ) from exc
        raise LockError(f"cannot take the run lock: {exc.reason}") from exc
    except AzureError as exc:
        raise LockError(f"cannot take the run lock: {type(exc).__name__}") from exc
    handle = LeaseHandle(str(lease.id), duration, acquired_at)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_loop, args=(lease, handle, stop), name="lock-renewer", daemon=True
    )
    renewer.start()
    try:
        yield handle
        handle.ensure_held()
    finally:
        stop.set()
        renewer.join(timeout=5)
        # expired, broken or not renewed lately (storage unreachable?): nothing to release, the
        # lease expires by itself within the margin
        if handle.lost() is None and handle.expires_in() > handle.margin:
            with suppress(AzureError):
                lease.release(retry_total=1, connection_timeout=5)
