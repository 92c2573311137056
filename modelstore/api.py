"""The model store API: register, resolve, alias, download, verify, archive, list.

Blob layout inside the container (default `models`); evaluation sets use the same layout
under `_datasets/` (see `modelstore.kinds`):

    <name>/index.json                     pointer blob: latest, max_version, archived (ETag CAS)
    <name>/versions/<n>/.claim            created with If-None-Match: * -> allocates number n
    <name>/versions/<n>/<files>           artifact files, uploaded before the manifest
    <name>/versions/<n>/manifest.json     immutable, canonical JSON, If-None-Match: *
    <name>/aliases/<alias>.json           alias -> version + append-only history (ETag CAS)

A version exists once its manifest exists. The claim blob makes the registration that owns
number n the only writer of files under `versions/<n>/`, so a registration that loses a race
never overwrites the winner's files; it moves on to n+1.

Claims, their heartbeat and taking over abandoned ones: `modelstore.claims`.

Why one long module: `ModelStore` is the store's consistency protocol (claims, conditional
writes, the index and alias compare-and-swap, verified reads), and its methods call each other's
preconditions; everything without that coupling lives beside it (`manifest`, `state`, `names`,
`files`, `install`, `kinds`, `backend`, and `transfer`: parallel hashed uploads and ranged,
verified downloads).
"""

from __future__ import annotations

import getpass
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from modelstore import claims, state, transfer
from modelstore.backend import MAX_SMALL_BLOB, AzureBlobBackend, Backend, RetryPolicy
from modelstore.claims import Claims
from modelstore.errors import (
    AliasConflictError,
    AliasNotFoundError,
    ArchivedVersionError,
    BlobConflictError,
    BlobNotFoundError,
    BlobTooLargeError,
    ClaimLostError,
    ConfigurationError,
    InvalidInputError,
    ManifestCorruptError,
    ManifestTooLargeError,
    ModelNotFoundError,
    ModelStoreError,
    NoLatestVersionError,
    RegistrationIncompleteError,
    StorageUnavailableError,
    TooMuchContentionError,
    VersionNotFoundError,
)
from modelstore.files import collect
from modelstore.kinds import DATASET, MODEL, ArtifactKind
from modelstore.manifest import (
    FileEntry,
    Manifest,
    canonical_json,
    normalize_metrics,
    normalize_tags,
    parse_manifest,
    sha256_hex,
    utc_now,
)
from modelstore.names import parse_ref, validate_alias, validate_model_name, validate_version
from modelstore.state import AliasEvent, AliasRecord, Index
from modelstore.transfer import NO_PROGRESS, Progress, TransferSettings

DEFAULT_CONTAINER = "models"
MANIFEST_SHA_KEY = "manifest_sha256"
ARCHIVED_KEY = "archived"
GIT_COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")
MAX_CAS_ATTEMPTS = 200
MAX_DESCRIPTION = 10_000
LARGEST_VERSION = 10**18 - 1  # the longest number a ref may name (names.VERSION_RE)
INDEX_ATTEMPTS = 3  # on top of the backend's own retries of each request
NO_SHA256 = "0" * 64  # stands in for a digest not known yet (same length)


class ModelStore:
    """A model registry in one Blob container. Thread-safe: share one instance across threads.

    The same machinery stores every kind of artifact: `kind` says where (`Layout`) and how a
    registration is checked; `store.datasets` is the evaluation-set registry beside the models.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        author: str | None = None,
        kind: ArtifactKind = MODEL,
        transfers: TransferSettings | None = None,
    ) -> None:
        self.backend = backend
        self.kind = kind
        self.transfers = transfers or TransferSettings()
        self._layout = kind.layout
        self._claims = Claims(backend, self._layout, lambda name: self._read_index(name)[0])
        self._author = author
        self._container_ready = False

    @property
    def datasets(self) -> ModelStore:
        """The registry of evaluation sets in the same container (`_datasets/<name>/...`)."""
        return ModelStore(self.backend, author=self._author, kind=DATASET, transfers=self.transfers)

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        container: str = DEFAULT_CONTAINER,
        *,
        retry: RetryPolicy | None = None,
        on_request: Callable[[Any], None] | None = None,
        transfers: TransferSettings | None = None,
    ) -> ModelStore:
        """Connection string auth (Azurite, local development)."""
        return cls(
            AzureBlobBackend.from_connection_string(
                connection_string, container, retry=retry, on_request=on_request
            ),
            transfers=transfers,
        )

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        container: str = DEFAULT_CONTAINER,
        *,
        credential: Any = None,
        retry: RetryPolicy | None = None,
        transfers: TransferSettings | None = None,
    ) -> ModelStore:
        """Account URL + DefaultAzureCredential (workload identity on AKS, az login locally)."""
        return cls(
            AzureBlobBackend.from_account_url(
                account_url, container, credential=credential, retry=retry
            ),
            transfers=transfers,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelStore:
        """`AZURE_STORAGE_CONNECTION_STRING` or `MODELSTORE_ACCOUNT_URL`; `MODELSTORE_CONTAINER`."""
        env = os.environ if environ is None else environ
        container = env.get("MODELSTORE_CONTAINER") or DEFAULT_CONTAINER
        connection_string = env.get("AZURE_STORAGE_CONNECTION_STRING")
        account_url = env.get("MODELSTORE_ACCOUNT_URL")
        if connection_string and account_url:
            raise ConfigurationError(
                "both AZURE_STORAGE_CONNECTION_STRING and MODELSTORE_ACCOUNT_URL are set: "
                "set only one"
            )
        if connection_string:
            return cls.from_connection_string(connection_string, container)
        if account_url:
            return cls.from_account_url(account_url, container)
        raise ConfigurationError(
            "no model store configured: set AZURE_STORAGE_CONNECTION_STRING (local/Azurite) "
            "or MODELSTORE_ACCOUNT_URL (Azure, uses DefaultAzureCredential)"
        )

    # --- register ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        alias: str | None = None,
        author: str | None = None,
        git_commit: str | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> Manifest:
        """Store the file (or directory) at `path` as the next version of `name`.

        Every input is validated before anything is written, and hashed while it uploads; on
        failure the files uploaded so far are removed again and no version appears. Interrupted
        (Ctrl-C, or killed), the claim and the staged blocks stay: the same command resumes.
        """
        validate_model_name(name, self.kind.noun)
        if alias is not None:
            validate_alias(alias)
        clean_metrics = normalize_metrics(metrics)
        clean_tags = normalize_tags(tags)
        if git_commit is not None and not GIT_COMMIT_RE.fullmatch(git_commit):
            raise InvalidInputError(f"git commit {git_commit!r} is not a lowercase hex object id")
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise InvalidInputError(f"description is longer than {MAX_DESCRIPTION} characters")
        artifact = collect(Path(path), self.kind.primary_name)
        framework, signature = self.kind.describe(artifact)
        who = author or self._default_author()

        digests: dict[str, str] = {}

        def draft(version: int) -> Manifest:
            return Manifest(
                name=name,
                version=version,
                created_at=utc_now(),
                author=who,
                git_commit=git_commit,
                files=[
                    FileEntry(path=f.path, sha256=digests.get(f.path, NO_SHA256), size=f.size)
                    for f in artifact.files
                ],
                primary=artifact.primary,
                framework=framework,
                signature=signature,
                metrics=clean_metrics,
                tags=clean_tags,
                description=description,
            )

        # Readers refuse a manifest over the small-blob cap: never write one they cannot read.
        _check_manifest_size(draft(LARGEST_VERSION))

        self._ensure_container()
        index = self._read_index(name)[0]
        files = [[f.path, f.size] for f in artifact.files]
        token = uuid.uuid4().hex
        with claims.live(token):  # this process works on the claim: not abandoned (Ctrl-C)
            claim = self._claims.take(
                name, (index.max_version if index else 0) + 1, who, files, token, progress
            )
            version = claim.version
            with claim:
                try:
                    sent = 0
                    for local in artifact.files:
                        done = transfer.upload_file(
                            self.backend,
                            self._layout.file_path(name, version, local.path),
                            local.source,
                            settings=self.transfers,
                            progress=progress,
                            label=local.path,
                            resume=claim.resumed,
                            tick=claim.check,
                        )
                        digests[local.path], sent = done.sha256, sent + done.sent
                    if claim.resumed:
                        total = sum(f.size for f in artifact.files)
                        progress.note(
                            f"resumed {name} v{version}: sent {_mb(sent)} of {_mb(total)}, "
                            "the rest was staged by the interrupted registration"
                        )
                    manifest = draft(version)
                    _check_manifest_size(manifest)
                    claim.check()
                except ClaimLostError:
                    raise  # the files are the new holder's now: leave them
                except Exception:
                    self._claims.give_back(name, version, [f.path for f in artifact.files], token)
                    raise
                self._put_manifest(manifest, [f.path for f in artifact.files], token)
        # The version exists from here on: a failure below must say so, not look like a failure.
        try:
            self._publish_in_index(name, version)
        except ModelStoreError as exc:
            raise RegistrationIncompleteError(
                name,
                version,
                f"registered, but the latest-pointer could not be updated ({exc}); `latest` "
                f"lags until the next registration or `modelstore reindex {name}`",
                published=True,
                manifest=manifest,
            ) from exc
        if alias is not None:
            try:
                self.set_alias(name, alias, version, author=who)
            except ModelStoreError as exc:
                raise RegistrationIncompleteError(
                    name,
                    version,
                    f"registered, but alias {alias!r} could not be set ({exc})",
                    published=True,
                    manifest=manifest,
                ) from exc
        return manifest

    def _put_manifest(self, manifest: Manifest, paths: list[str], token: str) -> None:
        """Create the manifest (the commit point of a registration), surviving lost replies.

        When the write fails, read the manifest back: our exact bytes mean the write landed and
        only the reply was lost (success); no manifest means nothing was published (remove the
        files and the claim); anything else leaves every blob in place and says so.
        """
        name, version = manifest.name, manifest.version
        data = manifest.to_canonical_json()
        path = self._layout.manifest_path(name, version)
        try:
            self.backend.put(
                path, data, metadata={MANIFEST_SHA_KEY: sha256_hex(data)}, create_only=True
            )
            return
        except BaseException as exc:
            failure = exc
        try:
            stored = self.backend.get(path).data
        except BlobNotFoundError:
            self._claims.give_back(name, version, paths, token)
            raise failure from None
        except ModelStoreError as exc:
            raise RegistrationIncompleteError(
                name,
                version,
                f"could not confirm whether the version was registered ({failure}; then {exc}); "
                f"its files are kept: check with `modelstore show {name} {version}`",
                published=None,
            ) from failure
        if sha256_hex(stored) == sha256_hex(data):
            if isinstance(failure, Exception):
                return  # the write landed; only its reply was lost
            raise failure  # interrupted after the commit point: the version exists
        raise RegistrationIncompleteError(
            name,
            version,
            "another manifest is already stored for this number (written outside this "
            "registration); nothing was deleted",
            published=False,
        ) from failure

    def _publish_in_index(self, name: str, version: int) -> None:
        """Record the version in the pointer blob; transient outages get a few more tries."""
        for attempt in Retrying(
            retry=retry_if_exception_type(StorageUnavailableError),
            stop=stop_after_attempt(INDEX_ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        ):
            with attempt:
                self._update_index(name, lambda idx: state.with_published(idx, name, version))

    # --- read ----------------------------------------------------------------------------------

    def get_manifest(self, name: str, version: int) -> Manifest:
        """One request: the manifest blob, checked against the digest recorded at creation."""
        validate_model_name(name, self.kind.noun)
        validate_version(version)
        return self._load_manifest(name, version)[0]

    def resolve(self, name: str, ref: str | int) -> Manifest:
        """`3`, `"latest"` (newest not archived) or `"@alias"` -> manifest, in O(1) requests."""
        validate_model_name(name, self.kind.noun)
        parsed = parse_ref(ref)
        if parsed.kind == "version":
            assert parsed.version is not None  # noqa: S101 - parse_ref guarantees it
            return self._load_manifest(name, parsed.version)[0]
        if parsed.kind == "latest":
            latest = self._latest(name)
            if latest is None:
                raise NoLatestVersionError(name, kind=self.kind.noun)
            return self._load_manifest(name, latest)[0]
        assert parsed.alias is not None  # noqa: S101
        record = self._read_alias(name, parsed.alias)[0]
        if record is None:
            raise self._alias_missing(name, parsed.alias)
        return self._load_manifest(name, record.version)[0]

    def latest_version(self, name: str) -> int | None:
        """The version `latest` resolves to (None when every version is archived); 1 request."""
        validate_model_name(name, self.kind.noun)
        return self._latest(name)

    def _latest(self, name: str) -> int | None:
        index = self._read_index(name)[0]
        if index is None:
            # The pointer blob is written after the manifest, so a registration stopped in
            # between leaves versions without one: fall back to a listing (only on this path).
            published = self._published_from_listing(name)
            if not published:
                raise ModelNotFoundError(name, kind=self.kind.noun)
            index = state.rebuilt_index(name, published)
        return index.latest

    def list_models(self) -> list[str]:
        """Names of the models (datasets) in the container (one paged listing of folders)."""
        root = self._layout.root
        names = (p.removeprefix(root).rstrip("/") for p in self.backend.list_prefixes(root))
        return sorted(n for n in names if _is_model_name(n))

    def list_version_numbers(self, name: str, *, include_archived: bool = True) -> list[int]:
        """Published versions from a paged listing (no manifest reads)."""
        validate_model_name(name, self.kind.noun)
        return sorted(
            v
            for v, archived in self._published_from_listing(name).items()
            if include_archived or not archived
        )

    def list_versions(self, name: str, *, include_archived: bool = True) -> list[Manifest]:
        """Every published version's manifest, oldest first (a listing, then parallel reads).

        Strict: the first untrustworthy manifest raises `ManifestCorruptError`; see
        `list_version_entries` for a listing that reports it and goes on.
        """
        entries = self.list_version_entries(name, include_archived=include_archived)
        for entry in entries:
            if isinstance(entry, ManifestCorruptError):
                raise entry
        return [e for e in entries if isinstance(e, Manifest)]

    def list_version_entries(
        self, name: str, *, include_archived: bool = True
    ) -> list[Manifest | ManifestCorruptError]:
        """Every published version, oldest first: its manifest, or the `ManifestCorruptError`
        saying why it cannot be trusted (one bad manifest does not hide the others)."""
        numbers = self.list_version_numbers(name, include_archived=include_archived)
        if not numbers and self._read_index(name)[0] is None:
            raise ModelNotFoundError(name, kind=self.kind.noun)

        def entry(version: int) -> Manifest | ManifestCorruptError:
            try:
                return self._load_manifest(name, version)[0]
            except ManifestCorruptError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(entry, numbers))

    # --- aliases -------------------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        expected_version: int | None = None,
        author: str | None = None,
    ) -> AliasEvent:
        """Point `alias` at `version`: ETag compare-and-swap, history appended in the same write.

        With `expected_version`, refuse (AliasConflictError) unless the alias is at that version
        when written. Setting the version it already has writes nothing and returns the last move.
        """
        validate_model_name(name, self.kind.noun)
        validate_alias(alias)
        validate_version(version)
        target = self._load_manifest(name, version)[0]
        if target.archived:
            raise ArchivedVersionError(
                name, version, f"point alias {alias!r} at it", kind=self.kind.noun
            )
        event = AliasEvent(
            alias=alias,
            from_version=None,
            to_version=version,
            at=utc_now(),
            by=author or self._default_author(),
            change_id=uuid.uuid4().hex,
        )
        for attempt in range(MAX_CAS_ATTEMPTS):
            record, etag = self._read_alias(name, alias)
            if record is not None and (landed := record.event(event.change_id)) is not None:
                return landed  # an earlier attempt of ours was written (response lost, retried)
            current = record.version if record else None
            if expected_version is not None and current != expected_version:
                raise AliasConflictError(
                    name, alias, expected_version, current, kind=self.kind.noun
                )
            if record is not None and current == version:
                return record.history[-1]
            move = event.model_copy(update={"from_version": current})
            new = state.with_alias_move(record, name, move)
            try:
                self._ensure_container()
                self.backend.put(
                    self._layout.alias_path(name, alias),
                    canonical_json(new.model_dump(mode="json")),
                    metadata={"version": str(version)},
                    create_only=etag is None,
                    if_match=etag,
                )
                return move
            except BlobConflictError:  # moved meanwhile: re-read, re-check, try again
                _backoff(attempt)
        raise TooMuchContentionError(f"moving alias {alias!r} of {name!r}", MAX_CAS_ATTEMPTS)

    def get_aliases(self, name: str) -> dict[str, int]:
        """alias -> version, from one listing (the version is kept in blob metadata)."""
        validate_model_name(name, self.kind.noun)
        result: dict[str, int] = {}
        for info in self.backend.list_blobs(self._layout.aliases_prefix(name), metadata=True):
            alias = info.name.removeprefix(self._layout.aliases_prefix(name)).removesuffix(".json")
            if not _is_alias(alias):
                continue
            raw = info.metadata.get("version")
            if raw is not None and raw.isdigit():
                result[alias] = int(raw)
            else:  # metadata lost: fall back to the blob itself
                record = self._read_alias(name, alias)[0]
                if record is not None:
                    result[alias] = record.version
        return dict(sorted(result.items()))

    def alias_history(self, name: str, alias: str) -> list[AliasEvent]:
        """Every move of the alias, oldest first."""
        validate_model_name(name, self.kind.noun)
        validate_alias(alias)
        record = self._read_alias(name, alias)[0]
        if record is None:
            raise self._alias_missing(name, alias)
        return list(record.history)

    # --- archive -------------------------------------------------------------------------------

    def archive(self, name: str, version: int) -> Manifest:
        """Hide a version from `latest` (still fetchable by number). Idempotent."""
        validate_model_name(name, self.kind.noun)
        validate_version(version)
        for attempt in range(MAX_CAS_ATTEMPTS):
            manifest, blob_etag, data = self._load_manifest(name, version)
            if manifest.archived:
                break
            metadata = {MANIFEST_SHA_KEY: sha256_hex(data), ARCHIVED_KEY: "true"}
            try:
                self.backend.set_metadata(
                    self._layout.manifest_path(name, version), metadata, if_match=blob_etag
                )
                break
            except BlobConflictError:
                _backoff(attempt)
        else:
            raise TooMuchContentionError(f"archiving {name} v{version}", MAX_CAS_ATTEMPTS)

        def change(index: Index | None) -> Index:
            next_latest = None
            if index is not None and index.latest == version:
                next_latest = self._previous_live(name, version, set(index.archived))
            return state.with_archived(index, name, version, next_latest)

        self._update_index(name, change)
        return manifest.model_copy(update={"archived": True})

    def _previous_live(self, name: str, below: int, archived: set[int]) -> int | None:
        """Highest published, not archived version under `below` (walks down past gaps)."""
        for candidate in range(below - 1, 0, -1):
            if candidate in archived:
                continue
            try:
                manifest = self._load_manifest(name, candidate)[0]
            except VersionNotFoundError:
                continue
            if not manifest.archived:
                return candidate
        return None

    def reindex(self, name: str) -> Index:
        """Rebuild the pointer blob from a full listing (repair after an interrupted register)."""
        validate_model_name(name, self.kind.noun)
        published = self._published_from_listing(name)
        if not published:
            raise ModelNotFoundError(name, kind=self.kind.noun)
        return self._update_index(name, lambda _idx: state.rebuilt_index(name, published))

    # --- download / verify ---------------------------------------------------------------------

    def download(
        self, name: str, ref: str | int, dest_dir: Path, *, progress: Progress = NO_PROGRESS
    ) -> Manifest:
        """Write the version's files and `manifest.json` into `dest_dir`, all or nothing: each
        file is fetched in parallel ranges and verified before anything is put in place
        (`transfer.download_version`)."""
        manifest = self.resolve(name, ref)
        transfer.download_version(
            self.backend,
            self._layout,
            manifest,
            Path(dest_dir),
            settings=self.transfers,
            progress=progress,
        )
        return manifest

    def verify(self, name: str, ref: str | int, *, progress: Progress = NO_PROGRESS) -> Manifest:
        """Re-hash every stored file of the version against its manifest (streams, no disk)."""
        manifest = self.resolve(name, ref)
        transfer.verify_version(
            self.backend, self._layout, manifest, settings=self.transfers, progress=progress
        )
        return manifest

    # --- internals -----------------------------------------------------------------------------

    def _load_manifest(self, name: str, version: int) -> tuple[Manifest, str, bytes]:
        path = self._layout.manifest_path(name, version)
        try:
            blob = self.backend.get(path)
        except BlobNotFoundError:
            raise self._version_missing(name, version) from None
        except BlobTooLargeError as exc:
            raise ManifestCorruptError(name, version, str(exc)) from None
        recorded = blob.metadata.get(MANIFEST_SHA_KEY)
        if recorded is None:
            raise ManifestCorruptError(
                name, version, "its recorded digest is gone (rewritten outside the model store)"
            )
        actual = sha256_hex(blob.data)
        if actual != recorded:
            raise ManifestCorruptError(
                name, version, f"sha256 {actual} != {recorded} recorded when it was written"
            )
        try:
            manifest = parse_manifest(blob.data)
        except ValueError as exc:
            raise ManifestCorruptError(name, version, f"invalid manifest ({exc})") from None
        if manifest.name != name or manifest.version != version:
            raise ManifestCorruptError(
                name, version, f"it describes {manifest.name} v{manifest.version}"
            )
        if blob.metadata.get(ARCHIVED_KEY) == "true":
            manifest = manifest.model_copy(update={"archived": True})
        return manifest, blob.etag, blob.data

    def _version_missing(self, name: str, version: int) -> Exception:
        """Explain a missing manifest (only on the error path, so reads stay O(1))."""
        index = self._read_index(name)[0]
        if index is None and not self.backend.list_blobs(self._layout.versions_prefix(name)):
            return ModelNotFoundError(name, kind=self.kind.noun)
        if self._claims.token(name, version) is not None:
            return VersionNotFoundError(
                name,
                version,
                "it has no manifest: an unfinished or failed registration",
                kind=self.kind.noun,
            )
        if index is not None and index.max_version:
            return VersionNotFoundError(
                name, version, f"newest is {index.max_version}", kind=self.kind.noun
            )
        return VersionNotFoundError(name, version, kind=self.kind.noun)

    def _alias_missing(self, name: str, alias: str) -> Exception:
        if self._read_index(name)[0] is None:
            return ModelNotFoundError(name, kind=self.kind.noun)
        return AliasNotFoundError(name, alias, list(self.get_aliases(name)), kind=self.kind.noun)

    def _read_index(self, name: str) -> tuple[Index | None, str | None]:
        try:
            blob = self.backend.get(self._layout.index_path(name))
        except BlobNotFoundError:
            return None, None
        try:
            return Index.model_validate_json(blob.data), blob.etag
        except ValueError as exc:
            raise ManifestCorruptError(name, 0, f"index.json is invalid ({exc})") from None

    def _update_index(self, name: str, change: Callable[[Index | None], Index]) -> Index:
        """Read-modify-write of the pointer blob with ETags; retried on conflict."""
        self._ensure_container()
        for attempt in range(MAX_CAS_ATTEMPTS):
            current, etag = self._read_index(name)
            new = change(current)
            if new == current:
                return new
            try:
                self.backend.put(
                    self._layout.index_path(name),
                    canonical_json(new.model_dump(mode="json")),
                    create_only=etag is None,
                    if_match=etag,
                )
                return new
            except BlobConflictError:
                _backoff(attempt)
        raise TooMuchContentionError(f"updating the index of {name!r}", MAX_CAS_ATTEMPTS)

    def _read_alias(self, name: str, alias: str) -> tuple[AliasRecord | None, str | None]:
        try:
            blob = self.backend.get(self._layout.alias_path(name, alias))
        except BlobNotFoundError:
            return None, None
        try:
            return AliasRecord.model_validate_json(blob.data), blob.etag
        except ValueError as exc:
            raise ManifestCorruptError(name, 0, f"alias {alias!r} is invalid ({exc})") from None

    def _published_from_listing(self, name: str) -> dict[int, bool]:
        published: dict[int, bool] = {}
        for info in self.backend.list_blobs(self._layout.versions_prefix(name), metadata=True):
            version = self._layout.version_of_manifest_blob(name, info.name)
            if version is not None:
                published[version] = info.metadata.get(ARCHIVED_KEY) == "true"
        return published

    def _ensure_container(self) -> None:
        if not self._container_ready:
            self.backend.ensure_container()
            self._container_ready = True

    def _default_author(self) -> str | None:
        if self._author:
            return self._author
        if env_author := os.environ.get("MODELSTORE_AUTHOR"):
            return env_author
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (e.g. arbitrary uid in a container)
            return None


def _check_manifest_size(manifest: Manifest) -> None:
    size = len(manifest.to_canonical_json())
    if size > MAX_SMALL_BLOB:
        raise ManifestTooLargeError(manifest.name, size, MAX_SMALL_BLOB)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _backoff(attempt: int) -> None:
    """Short jittered sleep between optimistic-concurrency retries."""
    time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))  # noqa: S311 - jitter only


def _is_model_name(name: str) -> bool:
    try:
        validate_model_name(name)
    except InvalidInputError:
        return False
    return True


def _is_alias(alias: str) -> bool:
    try:
        validate_alias(alias)
    except InvalidInputError:
        return False
    return True
