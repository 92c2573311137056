"""The run lock is a real Blob lease on Azurite: one holder at a time, released on exit."""

from __future__ import annotations

import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from bot.lock import LockHeldError, run_lock
from localworld.services import Azurite


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
    with run_lock(container, duration=15) as lease_id:
        assert lease_id


def test_lock_is_released_when_the_run_fails(container):
    with pytest.raises(RuntimeError), run_lock(container, duration=15):
        raise RuntimeError("run failed")
    with run_lock(container, duration=15):
        pass
