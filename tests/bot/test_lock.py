"""The run lock is a real Blob lease on Azurite: one holder at a time, released on exit."""

from __future__ import annotations

import ctypes
import sys
import time
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from bot.lock import RENEWAL_MARGIN, LeaseHandle, LockError, LockHeldError, run_lock
from localworld.services import Azurite, start_azurite


@pytest.fixture
def container(azurite: Azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.get_container_client(f"lock-{uuid.uuid4().hex[:12]}")


def test_second_holder_is_refused_while_first_holds(container):
    held = pytest.raises(LockHeldError, match="another promotion-bot run holds the lock")
    with run_lock(container, duration=15), held, run_lock(container, duration=15):
        pass


def test_lock_is_released_after_the_run(container):
    with run_lock(container, duration=15):
        pass
    with run_lock(container, duration=15) as handle:
        assert handle.id
        handle.ensure_held()


def test_lock_is_released_when_the_run_fails(container):
    with pytest.raises(RuntimeError), run_lock(container, duration=15):
        raise RuntimeError("run failed")
    with run_lock(container, duration=15):
        pass


def test_storage_going_away_loses_the_lock_once_the_lease_would_expire(tmp_path: Path):
    own = start_azurite(tmp_path / "azurite", tmp_path / "logs")  # stopped mid-run by this test
    try:
        service = BlobServiceClient.from_connection_string(own.connection_string)
        client = service.get_container_client("lock")
        lost_after = None
        # exiting raises LockError (mapped to exit 1), never the connection error behind it
        with (
            pytest.raises(LockError, match="lost the run lock"),
            run_lock(client, duration=15) as h,
        ):
            taken = time.monotonic()
            own.process.stop()
            h.ensure_held()  # still within the lease: writing is fine
            while time.monotonic() - taken < 25:
                try:
                    h.ensure_held()
                except LockError:
                    lost_after = time.monotonic() - taken
                    break
                time.sleep(0.2)
        assert lost_after is not None
        assert 8.5 < lost_after < 11.5  # 15 s lease, refused a third of it before expiry
        assert time.monotonic() - taken < lost_after + 8  # no minute of SDK retries on exit
    finally:
        own.process.stop()


def _stall_holding_the_gil(seconds: int) -> None:
    """A step that blocks every other thread of the process (as a C extension crunching under the
    GIL does): libc `sleep` called with the GIL held, so the renewal thread cannot run."""
    ctypes.PyDLL(None).sleep(seconds)


def test_a_stalled_renewal_fails_closed_before_the_lease_could_expire(container):
    # the renewal thread is starved for 12 s of a 15 s lease: nothing renews, yet ensure_held
    # refuses to write (a write let through at 14.9 s would land after the lease expired)
    interval = sys.getswitchinterval()
    with run_lock(container, duration=15) as handle:
        handle.ensure_held()
        sys.setswitchinterval(2.0)  # after the stall, this thread checks before the renewer runs
        try:
            _stall_holding_the_gil(12)
            with pytest.raises(LockError, match=r"not renewed for 1[2-9]"):
                handle.ensure_held()
        finally:
            sys.setswitchinterval(interval)
        deadline = time.monotonic() + 5  # the renewer, running again, renews the lease
        while True:
            try:
                handle.ensure_held()
                break
            except LockError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_lease_age_is_checked_without_the_renewal_thread():
    started = time.monotonic()
    fresh = LeaseHandle("id", 15, acquired_at=started)
    fresh.ensure_held()
    old = LeaseHandle("id", 15, acquired_at=started - 15 * (1 - RENEWAL_MARGIN) - 0.1)
    with pytest.raises(LockError, match="not renewed for"):
        old.ensure_held()
