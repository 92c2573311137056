"""Blob storage behind a small Protocol, implemented on azure-storage-blob.

The Azure implementation turns `azure.core` errors into `modelstore.errors` and retries
transient failures (connection refused/reset, 408, 429, 5xx) a bounded number of times with
exponential backoff (tenacity). The SDK's own retry policy is switched off so there is exactly
one place that decides how long we wait. Conditional writes are what make the store safe under
concurrency: `create_only` sends `If-None-Match: *`, `if_match` sends `If-Match: <etag>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from modelstore.errors import (
    BlobConflictError,
    BlobNotFoundError,
    BlobTooLargeError,
    ConfigurationError,
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
)

T = TypeVar("T")
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_SMALL_BLOB = 1024 * 1024  # manifests, index, aliases and claims are a few KiB
BULK_GET_SIZE = 64 * 1024 * 1024  # the largest range `read_range` fetches in one request
# The bulk client reads a reply's body in pieces of this size (the SDK's default is 256 KiB): a
# range up to this size arrives as one bytes object, which the SDK passes on without joining
# pieces (no copy of the range, no second range-sized buffer per request in flight).
BULK_READ_PIECE = 8 * 1024 * 1024


@dataclass(frozen=True)
class Blob:
    data: bytes
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    """What the model store needs from a blob store; paths are relative to one container."""

    @property
    def endpoint(self) -> str:
        """Where the blobs live, for messages (never contains credentials)."""
        ...

    def ensure_container(self) -> None: ...

    def get(self, path: str) -> Blob:
        """A small JSON blob, whole; BlobTooLargeError above MAX_SMALL_BLOB bytes."""
        ...

    def put(
        self,
        path: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        create_only: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Write and return the new ETag; BlobConflictError when a condition fails."""
        ...

    def read_chunks(self, path: str) -> Iterator[bytes]: ...

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, int]:
        """`length` bytes from `offset` (fewer at the end) and the blob's whole size."""
        ...

    def stage_block(self, path: str, block_id: str, data: bytes) -> None:
        """Store an uncommitted block of a block blob (ids: at most 64 characters, one length)."""
        ...

    def staged_blocks(self, path: str) -> dict[str, int]:
        """The uncommitted blocks of a blob: id -> size (empty when there are none)."""
        ...

    def committed_blocks(self, path: str) -> list[str]:
        """The block ids of a committed blob, in order (BlobNotFoundError when there is none)."""
        ...

    def commit_blocks(
        self, path: str, block_ids: list[str], *, metadata: dict[str, str] | None = None
    ) -> None:
        """Create the blob from staged blocks, create-only (BlobConflictError if it exists)."""
        ...

    def set_metadata(self, path: str, metadata: dict[str, str], *, if_match: str) -> str: ...

    def list_blobs(self, prefix: str, *, metadata: bool = False) -> list[BlobInfo]: ...

    def list_prefixes(self, prefix: str = "") -> list[str]:
        """Immediate 'folders' under prefix (names end with '/')."""
        ...

    def delete(self, path: str) -> None:
        """Delete if present (missing is fine)."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for transient faults: attempts in total, exponential waits with jitter."""

    attempts: int = 4
    initial_wait: float = 0.2
    max_wait: float = 2.0


def redact_url(url: str) -> str:
    """Drop query string and user info (SAS tokens, keys) from a URL shown to humans."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in TRANSIENT_STATUS


class AzureBlobBackend:
    """The Backend on azure-storage-blob (Azure Blob Storage or Azurite)."""

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        retry: RetryPolicy,
        *,
        bulk: BlobServiceClient | None = None,
    ) -> None:
        """`bulk` is a client for ranged reads of big files (configured to fetch a whole range
        in one GET); without it the small-blob client reads ranges, in more requests."""
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._bulk: ContainerClient = (bulk or service).get_container_client(container)
        self._retry = retry
        self.container_name = container

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        container: str,
        *,
        retry: RetryPolicy | None = None,
        on_request: Callable[[Any], None] | None = None,
    ) -> AzureBlobBackend:
        try:
            service, bulk = (
                BlobServiceClient.from_connection_string(
                    connection_string, **_client_options(on_request, bulk=b)
                )
                for b in (False, True)
            )
        except ValueError:  # the SDK's parse error; the string itself holds the account key
            raise ConfigurationError("AZURE_STORAGE_CONNECTION_STRING is malformed") from None
        return cls(service, container, retry or RetryPolicy(), bulk=bulk)

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        container: str,
        *,
        credential: Any = None,
        retry: RetryPolicy | None = None,
        on_request: Callable[[Any], None] | None = None,
    ) -> AzureBlobBackend:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        service, bulk = (
            BlobServiceClient(
                account_url, credential=credential, **_client_options(on_request, bulk=b)
            )
            for b in (False, True)
        )
        return cls(service, container, retry or RetryPolicy(), bulk=bulk)

    @property
    def endpoint(self) -> str:
        return f"{redact_url(self._service.url).rstrip('/')}/{self.container_name}"

    # --- the Protocol --------------------------------------------------------------------------

    def ensure_container(self) -> None:
        def create() -> None:
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()

        self._call("create container", self.container_name, create)

    def get(self, path: str) -> Blob:
        def read() -> Blob:
            # The first GET fetches at most MAX_SMALL_BLOB + 1 bytes (max_single_get_size) and
            # tells the full size, so an oversized blob is refused before the rest is read.
            downloader = self._container.get_blob_client(path).download_blob()
            if downloader.size > MAX_SMALL_BLOB:
                raise BlobTooLargeError(path, downloader.size, MAX_SMALL_BLOB)
            data = downloader.readall()
            props = downloader.properties
            return Blob(data=data, etag=str(props.etag), metadata=dict(props.metadata or {}))

        return self._call("read", path, read)

    def put(
        self,
        path: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        create_only: bool = False,
        if_match: str | None = None,
    ) -> str:
        conditions: dict[str, Any] = {"overwrite": not create_only}
        if if_match is not None:
            conditions |= {"etag": if_match, "match_condition": MatchConditions.IfNotModified}

        def write() -> str:
            result = self._container.get_blob_client(path).upload_blob(
                data, metadata=metadata, **conditions
            )
            return str(result["etag"])

        return self._call("write", path, write)

    def read_chunks(self, path: str) -> Iterator[bytes]:
        downloader = self._call(
            "read", path, lambda: self._container.get_blob_client(path).download_blob()
        )
        chunks = iter(downloader.chunks())
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except AzureError as exc:
                raise self._translate("read", path, exc, attempts=1) from exc
            yield chunk

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, int]:
        def read() -> tuple[bytes, int]:
            downloader = self._bulk.get_blob_client(path).download_blob(
                offset=offset, length=length, max_concurrency=1
            )
            # One request per range (the bulk client's limits): one chunk, joined without a copy.
            data = b"".join(downloader.chunks())
            # "bytes <start>-<end>/<blob size>": the SDK fills it in from the reply's range.
            total = str(downloader.properties.content_range or "").rpartition("/")[2]
            return data, int(total) if total.isdigit() else offset + len(data)

        return self._call("read", path, read)

    def stage_block(self, path: str, block_id: str, data: bytes) -> None:
        # validate_content: the block carries its MD5 (Content-MD5) and the service refuses it
        # if other bytes arrived. Azurite, given no MD5, computes a CRC64 of every block in
        # JavaScript instead, ~4x the CPU of the whole rest of a big upload.
        def stage() -> None:
            self._bulk.get_blob_client(path).stage_block(
                block_id, data, length=len(data), validate_content=True
            )

        self._call("upload a block of", path, stage)

    def staged_blocks(self, path: str) -> dict[str, int]:
        try:
            return dict(self._block_list(path, uncommitted=True))
        except BlobNotFoundError:
            return {}

    def committed_blocks(self, path: str) -> list[str]:
        return [block_id for block_id, _size in self._block_list(path, uncommitted=False)]

    def _block_list(self, path: str, *, uncommitted: bool) -> list[tuple[str, int]]:
        def listing() -> list[tuple[str, int]]:
            kind = "uncommitted" if uncommitted else "committed"
            committed, staged = self._container.get_blob_client(path).get_block_list(kind)
            return [(str(b.id), int(b.size)) for b in (staged if uncommitted else committed)]

        return self._call("list the blocks of", path, listing)

    def commit_blocks(
        self, path: str, block_ids: list[str], *, metadata: dict[str, str] | None = None
    ) -> None:
        def commit() -> None:
            self._container.get_blob_client(path).commit_block_list(
                [BlobBlock(block_id) for block_id in block_ids],
                metadata=metadata,
                match_condition=MatchConditions.IfMissing,  # If-None-Match: *
            )

        self._call("commit", path, commit)

    def set_metadata(self, path: str, metadata: dict[str, str], *, if_match: str) -> str:
        def write() -> str:
            result = self._container.get_blob_client(path).set_blob_metadata(
                metadata, etag=if_match, match_condition=MatchConditions.IfNotModified
            )
            return str(result["etag"])

        return self._call("update metadata of", path, write)

    def list_blobs(self, prefix: str, *, metadata: bool = False) -> list[BlobInfo]:
        include = ["metadata"] if metadata else None

        def listing() -> list[BlobInfo]:
            return [
                BlobInfo(name=b.name, size=int(b.size or 0), metadata=dict(b.metadata or {}))
                for b in self._container.list_blobs(
                    name_starts_with=prefix, include=include, results_per_page=5000
                )
            ]

        try:
            return self._call("list", prefix, listing)
        except BlobNotFoundError:  # the container does not exist yet: nothing stored
            return []

    def list_prefixes(self, prefix: str = "") -> list[str]:
        def listing() -> list[str]:
            return [
                item.name
                for item in self._container.walk_blobs(name_starts_with=prefix or None)
                if item.name.endswith("/")
            ]

        try:
            return self._call("list", prefix or "/", listing)
        except BlobNotFoundError:
            return []

    def delete(self, path: str) -> None:
        def remove() -> None:
            with contextlib.suppress(ResourceNotFoundError):
                self._container.get_blob_client(path).delete_blob()

        self._call("delete", path, remove)

    # --- error handling ------------------------------------------------------------------------

    def _call(self, action: str, path: str, func: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.initial_wait, max=self._retry.max_wait)
            + wait_random(0, self._retry.initial_wait),
            reraise=True,
        )
        try:
            return retrying(func)
        except AzureError as exc:
            raise self._translate(action, path, exc, attempts=self._retry.attempts) from exc

    def _translate(  # noqa: PLR0911 - one return per error class reads best
        self, action: str, path: str, exc: AzureError, attempts: int
    ) -> StorageError:
        if isinstance(exc, ResourceNotFoundError):
            return BlobNotFoundError(path)
        if isinstance(exc, ResourceExistsError | ResourceModifiedError):
            return BlobConflictError(path)
        if isinstance(exc, ClientAuthenticationError):
            return StorageAuthError(self.endpoint, _first_line(exc))
        if isinstance(exc, HttpResponseError) and exc.status_code == 412:
            return BlobConflictError(path)
        if isinstance(exc, HttpResponseError) and exc.status_code == 403:
            return StorageAuthError(self.endpoint, _first_line(exc))
        if _is_transient(exc):
            return StorageUnavailableError(self.endpoint, attempts, _cause(exc))
        return StorageError(f"Blob storage failed to {action} {path}: {_first_line(exc)}")


def _client_options(
    on_request: Callable[[Any], None] | None, *, bulk: bool = False
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": 5,
        "read_timeout": 60,
        # Small blobs: see `get`. Bulk ranges: one GET per range (`read_range`).
        "max_single_get_size": BULK_GET_SIZE if bulk else MAX_SMALL_BLOB + 1,
    }
    if bulk:
        options["max_chunk_get_size"] = BULK_GET_SIZE
        options["connection_data_block_size"] = BULK_READ_PIECE
    if on_request is not None:
        options["raw_request_hook"] = on_request
    return options


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cause(exc: AzureError) -> str:
    if isinstance(exc, HttpResponseError):
        return f"HTTP {exc.status_code}"
    inner = getattr(exc, "inner_exception", None) or exc
    text = str(inner)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    return _first_line(inner)
