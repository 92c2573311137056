"""The Azure Blob backend against real Azurite (and against a closed port)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from localworld.process import free_port
from modelstore.backend import MAX_SMALL_BLOB, AzureBlobBackend, RetryPolicy, redact_url
from modelstore.errors import (
    BlobConflictError,
    BlobNotFoundError,
    BlobTooLargeError,
    StorageUnavailableError,
)
from tests.modelstore.conftest import FAST_RETRY, RequestCounter

AZURITE_DOWN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
    "KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
)


@pytest.fixture
def backend(azurite: Any, container: str) -> AzureBlobBackend:
    blobs = AzureBlobBackend.from_connection_string(
        azurite.connection_string, container, retry=FAST_RETRY
    )
    blobs.ensure_container()
    return blobs


def test_put_get_round_trip_with_metadata(backend: AzureBlobBackend) -> None:
    etag = backend.put("m/a.json", b"{}", metadata={"k": "v"})
    blob = backend.get("m/a.json")
    assert (blob.data, blob.etag, blob.metadata) == (b"{}", etag, {"k": "v"})


def test_create_only_refuses_an_existing_blob(backend: AzureBlobBackend) -> None:
    backend.put("m/claim", b"first", create_only=True)
    with pytest.raises(BlobConflictError):
        backend.put("m/claim", b"second", create_only=True)
    assert backend.get("m/claim").data == b"first"


def test_if_match_refuses_a_stale_etag(backend: AzureBlobBackend) -> None:
    stale = backend.put("m/index.json", b"1")
    backend.put("m/index.json", b"2", if_match=stale)
    with pytest.raises(BlobConflictError):
        backend.put("m/index.json", b"3", if_match=stale)
    assert backend.get("m/index.json").data == b"2"


def test_set_metadata_is_conditional(backend: AzureBlobBackend) -> None:
    etag = backend.put("m/x", b"x", metadata={"a": "1"})
    backend.set_metadata("m/x", {"a": "2"}, if_match=etag)
    with pytest.raises(BlobConflictError):
        backend.set_metadata("m/x", {"a": "3"}, if_match=etag)
    assert backend.get("m/x").metadata == {"a": "2"}


def test_missing_blob_and_missing_container(azurite: Any, backend: AzureBlobBackend) -> None:
    with pytest.raises(BlobNotFoundError):
        backend.get("m/nope")
    other = AzureBlobBackend.from_connection_string(azurite.connection_string, "never-created")
    with pytest.raises(BlobNotFoundError):
        other.get("m/nope")
    assert other.list_blobs("m/") == []
    assert other.list_prefixes() == []


def test_blocks_stage_commit_create_only_and_read_back_in_ranges(
    backend: AzureBlobBackend,
) -> None:
    assert backend.staged_blocks("m/w.bin") == {}
    backend.stage_block("m/w.bin", "000000-a", b"weights" * 100)
    backend.stage_block("m/w.bin", "000001-b", b"tail")
    assert backend.staged_blocks("m/w.bin") == {"000000-a": 700, "000001-b": 4}
    backend.commit_blocks("m/w.bin", ["000000-a", "000001-b"], metadata={"sha256": "x"})
    assert backend.committed_blocks("m/w.bin") == ["000000-a", "000001-b"]
    assert backend.staged_blocks("m/w.bin") == {}
    assert backend.read_range("m/w.bin", 0, 7) == (b"weights", 704)
    assert backend.read_range("m/w.bin", 700, 100) == (b"tail", 704)  # short at the end
    backend.stage_block("m/w.bin", "000000-c", b"other")
    with pytest.raises(BlobConflictError):
        backend.commit_blocks("m/w.bin", ["000000-c"])
    assert b"".join(backend.read_chunks("m/w.bin")) == b"weights" * 100 + b"tail"
    with pytest.raises(BlobNotFoundError):
        backend.read_range("m/nope", 0, 1)
    with pytest.raises(BlobNotFoundError):
        backend.committed_blocks("m/nope")


def test_staged_blocks_carry_their_md5(azurite: Any, container: str) -> None:
    """Put Block with Content-MD5: the service checks the bytes that arrived (and Azurite then
    skips the CRC64 it computes in JavaScript, most of its CPU in a big upload)."""
    import base64
    import hashlib

    sent: list[str | None] = []
    blobs = AzureBlobBackend.from_connection_string(
        azurite.connection_string,
        container,
        retry=FAST_RETRY,
        on_request=lambda request: sent.append(
            request.http_request.headers.get("Content-MD5")
            if "comp=block&" in request.http_request.url + "&"
            else "other"
        ),
    )
    blobs.ensure_container()
    sent.clear()
    blobs.stage_block("m/md5.bin", "000000-a", b"weights" * 100)
    md5 = hashlib.md5(b"weights" * 100, usedforsecurity=False).digest()
    assert sent == [base64.b64encode(md5).decode()]


def test_listing_and_prefixes(backend: AzureBlobBackend) -> None:
    for name in ["a/versions/1/manifest.json", "a/index.json", "b/index.json"]:
        backend.put(name, b"x", metadata={"n": name[0]})
    assert backend.list_prefixes() == ["a/", "b/"]
    listed = backend.list_blobs("a/", metadata=True)
    assert [(b.name, b.metadata["n"]) for b in listed] == [
        ("a/index.json", "a"),
        ("a/versions/1/manifest.json", "a"),
    ]


def test_delete_is_idempotent(backend: AzureBlobBackend) -> None:
    backend.put("m/x", b"x")
    backend.delete("m/x")
    backend.delete("m/x")
    with pytest.raises(BlobNotFoundError):
        backend.get("m/x")


def test_storage_down_gives_bounded_retries_then_a_clear_error() -> None:
    counter = RequestCounter()
    down = AzureBlobBackend.from_connection_string(
        AZURITE_DOWN.format(port=free_port()),
        "models",
        retry=RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.2),
        on_request=counter,
    )
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        down.get("m/index.json")
    assert time.monotonic() - started < 5
    assert counter.count == 3
    message = str(caught.value)
    assert "unreachable after 3 attempts" in message
    assert "connection refused" in message
    assert "AccountKey" not in message
    assert "Eby8" not in message


def test_redact_url_drops_sas_tokens_and_user_info() -> None:
    assert (
        redact_url("https://u:p@acct.blob.core.windows.net/models?sv=2020&sig=SECRET")
        == "https://acct.blob.core.windows.net/models"
    )


def test_large_blobs_read_in_chunks(azurite: Any, container: str) -> None:
    """Small SDK limits force the multi-chunk download path of `read_chunks`."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(
        azurite.connection_string,
        max_single_get_size=64 * 1024,
        max_chunk_get_size=64 * 1024,
        retry_total=0,
    )
    blobs = AzureBlobBackend(service, container, FAST_RETRY)
    blobs.ensure_container()
    data = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, not chunk-aligned
    blobs.put("m/big.bin", data)
    chunks = list(blobs.read_chunks("m/big.bin"))
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert blobs.read_range("m/big.bin", 100_000, 200_000) == (data[100_000:300_000], len(data))


def test_get_refuses_blobs_above_the_small_blob_limit(backend: AzureBlobBackend) -> None:
    backend.put("m/empty", b"")
    assert backend.get("m/empty").data == b""
    backend.put("m/limit", b"x" * MAX_SMALL_BLOB)
    assert len(backend.get("m/limit").data) == MAX_SMALL_BLOB
    backend.put("m/big", b"x" * (MAX_SMALL_BLOB + 1))
    with pytest.raises(BlobTooLargeError, match=f"m/big is {MAX_SMALL_BLOB + 1} bytes"):
        backend.get("m/big")
    assert sum(len(c) for c in backend.read_chunks("m/big")) == MAX_SMALL_BLOB + 1
