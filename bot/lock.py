"""A run lock on Azure Blob: a blob lease, renewed in the background while the run lasts.

Two concurrent bot runs: the first acquires the lease, the second sees 409 and exits cleanly.
If a holder dies, its lease expires after `duration` seconds and the next run proceeds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from bot.errors import BotError


class LockHeldError(BotError):
    """Another run holds the lock."""


class LockError(BotError):
    """The lock could not be taken or kept for a reason other than contention."""


LOCK_BLOB = "locks/promotion-bot"


def _ensure_blob(container: ContainerClient, name: str) -> BlobClient:
    blob = container.get_blob_client(name)
    with suppress(ResourceExistsError):
        container.create_container()
    with suppress(ResourceExistsError):
        blob.upload_blob(b"", overwrite=False)
    return blob


@contextmanager
def run_lock(
    container: ContainerClient, name: str = LOCK_BLOB, duration: int = 30
) -> Iterator[str]:
    """Hold a lease on `name` for the body of the `with`; renew every duration/3 seconds."""
    blob = _ensure_blob(container, name)
    lease = BlobLeaseClient(blob)
    try:
        lease.acquire(lease_duration=duration)
    except HttpResponseError as exc:
        if exc.status_code == 409:
            raise LockHeldError(
                f"another promotion-bot run holds the lock ({container.container_name}/{name}); "
                "nothing done"
            ) from exc
        raise LockError(f"cannot take the run lock: {exc.reason}") from exc
    stop = threading.Event()
    failure: list[BaseException] = []

    def renew() -> None:
        while not stop.wait(duration / 3):
            try:
                lease.renew()
            except HttpResponseError as exc:  # lost the lease: the run must not continue writing
                failure.append(exc)
                return

    renewer = threading.Thread(target=renew, name="lock-renewer", daemon=True)
    renewer.start()
    try:
        yield str(lease.id)
        if failure:
            raise LockError(f"lost the run lock while running: {failure[0]}")
    finally:
        stop.set()
        renewer.join(timeout=5)
        with suppress(HttpResponseError):  # expired or already broken: nothing to release
            lease.release()
