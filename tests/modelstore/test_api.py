"""The model store API against real Azurite: one fresh container per test."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelstore import Manifest, ModelStore
from modelstore.backend import AzureBlobBackend, Backend
from modelstore.errors import (
    AliasConflictError,
    AliasNotFoundError,
    ArchivedVersionError,
    BlobConflictError,
    ChecksumMismatchError,
    ConfigurationError,
    DestinationError,
    InvalidInputError,
    InvalidMetricError,
    InvalidModelFileError,
    InvalidNameError,
    InvalidReferenceError,
    ManifestCorruptError,
    ManifestTooLargeError,
    ModelNotFoundError,
    NoLatestVersionError,
    RegistrationIncompleteError,
    StorageError,
    StorageUnavailableError,
    VersionNotFoundError,
)
from modelstore.manifest import canonical_json, sha256_hex
from modelstore.state import claim_path, file_path, index_path, manifest_path, version_prefix
from tests.modelstore.conftest import FAST_RETRY, RequestCounter, lossy_store, make_onnx
from tests.modelstore.test_backend import AZURITE_DOWN
from tests.modelstore.test_files import unreadable_file

OnnxFactory = Callable[[int], Path]


def test_register_stores_files_manifest_and_signature(store: ModelStore, onnx_file: Path) -> None:
    manifest = store.register(
        "digits",
        onnx_file,
        metrics={"accuracy": 0.97},
        tags={"dataset": "digits"},
        description="first",
        git_commit="0123abc",
    )
    assert manifest.version == 1
    assert manifest.primary == "model.onnx"
    assert manifest.primary_sha256 == sha256_hex(onnx_file.read_bytes())
    assert manifest.files[0].size == onnx_file.stat().st_size
    assert manifest.signature is not None
    assert manifest.signature.input_key() == "input:float32[?,64]"
    assert (manifest.author, manifest.git_commit) == ("tester", "0123abc")
    assert manifest.created_at.utcoffset() is not None
    assert store.get_manifest("digits", 1) == manifest
    stored = store.backend.get(manifest_path("digits", 1)).data
    assert stored == manifest.to_canonical_json()


def test_versions_count_up_and_refs_resolve(store: ModelStore, onnx_factory: OnnxFactory) -> None:
    for seed in range(3):
        store.register("digits", onnx_factory(seed))
    store.set_alias("digits", "champion", 2)
    assert store.resolve("digits", "latest").version == 3
    assert store.resolve("digits", "@champion").version == 2
    assert store.resolve("digits", "1").version == 1
    assert store.resolve("digits", 1).version == 1
    assert store.latest_version("digits") == 3
    assert store.list_models() == ["digits"]
    assert [m.version for m in store.list_versions("digits")] == [1, 2, 3]


def test_register_directory_keeps_extra_files(store: ModelStore, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    make_onnx(folder / "model.onnx")
    (folder / "labels.json").write_text('["0","1"]')
    manifest = store.register("digits", folder)
    assert sorted(f.path for f in manifest.files) == ["labels.json", "model.onnx"]
    out = tmp_path / "out"
    store.download("digits", "latest", out)
    assert (out / "labels.json").read_text() == '["0","1"]'


def test_non_onnx_file_has_no_signature(store: ModelStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x01\x02")
    manifest = store.register("other", source)
    assert (manifest.primary, manifest.framework, manifest.signature) == (
        "weights.bin",
        "other",
        None,
    )


# --- concurrency -------------------------------------------------------------------------------


def test_parallel_registrations_get_distinct_gap_free_versions_that_verify(
    store: ModelStore, onnx_factory: OnnxFactory
) -> None:
    workers = 20
    sources = [onnx_factory(seed) for seed in range(workers)]
    start = threading.Barrier(workers)

    def register(source: Path) -> Manifest:
        start.wait()
        return store.register("digits", source, metrics={"accuracy": 0.9})

    with ThreadPoolExecutor(max_workers=workers) as pool:
        manifests = list(pool.map(register, sources))

    assert sorted(m.version for m in manifests) == list(range(1, workers + 1))
    for source, manifest in zip(sources, manifests, strict=True):
        assert manifest.primary_sha256 == sha256_hex(source.read_bytes())
        assert store.verify("digits", manifest.version) == manifest
    assert store.latest_version("digits") == workers
    assert store.list_version_numbers("digits") == list(range(1, workers + 1))


# --- O(1) resolution ---------------------------------------------------------------------------


def test_resolution_costs_the_same_requests_at_any_number_of_versions(
    store: ModelStore, counter: RequestCounter, onnx_file: Path
) -> None:
    def cost(ref: str) -> list[tuple[str, str]]:
        counter.reset()
        store.resolve("digits", ref)
        return list(counter.requests)

    store.register("digits", onnx_file, alias="champion")
    few = {ref: cost(ref) for ref in ("latest", "@champion", "1")}
    for _ in range(24):
        store.register("digits", onnx_file)
    many = {ref: cost(ref) for ref in ("latest", "@champion", "1")}

    assert {ref: len(reqs) for ref, reqs in few.items()} == {"latest": 2, "@champion": 2, "1": 1}
    assert {ref: len(reqs) for ref, reqs in many.items()} == {"latest": 2, "@champion": 2, "1": 1}
    assert all(
        method == "GET" and "comp=list" not in url for r in many.values() for method, url in r
    )
    assert many["latest"][0][1].endswith("/digits/index.json")


# --- bad input: nothing is written -------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "Digits", "my model", "digits/../../etc", ""])
def test_register_refuses_invalid_names_and_writes_nothing(
    store: ModelStore, counter: RequestCounter, onnx_file: Path, name: str
) -> None:
    with pytest.raises(InvalidNameError, match="invalid model name"):
        store.register(name, onnx_file)
    assert counter.count == 0


@pytest.mark.parametrize(
    "metrics", [{"accuracy": "high"}, {"accuracy": True}, {"f1": float("nan")}]
)
def test_register_refuses_non_numeric_metrics(
    store: ModelStore, counter: RequestCounter, onnx_file: Path, metrics: dict[str, Any]
) -> None:
    with pytest.raises(InvalidMetricError):
        store.register("digits", onnx_file, metrics=metrics)
    assert counter.count == 0


def test_register_refuses_empty_unreadable_and_invalid_onnx(
    store: ModelStore, counter: RequestCounter, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.onnx"
    empty.touch()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe not an onnx model")
    with pytest.raises(InvalidModelFileError, match="empty"):
        store.register("digits", empty)
    with pytest.raises(InvalidModelFileError, match="unreadable"):
        store.register("digits", unreadable_file(tmp_path))
    with pytest.raises(InvalidModelFileError, match="not a valid ONNX"):
        store.register("digits", garbage)
    assert counter.count == 0


def test_register_refuses_bad_alias_and_git_commit_before_writing(
    store: ModelStore, counter: RequestCounter, onnx_file: Path
) -> None:
    with pytest.raises(InvalidNameError, match="alias"):
        store.register("digits", onnx_file, alias="Champion")
    with pytest.raises(InvalidInputError, match="git commit"):
        store.register("digits", onnx_file, git_commit="not-a-sha")
    assert counter.count == 0


class FailingManifestWrites:
    """The real backend, except that writing a manifest fails (a crash mid-registration)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, path: str, data: bytes, **kwargs: Any) -> str:
        if path.endswith("/manifest.json"):
            raise StorageError("injected failure")
        return self.inner.put(path, data, **kwargs)


def test_failed_registration_leaves_nothing_and_the_number_is_reused(
    store: ModelStore, onnx_file: Path
) -> None:
    failing = ModelStore(FailingManifestWrites(store.backend), author="tester")
    with pytest.raises(StorageError, match="injected"):
        failing.register("digits", onnx_file)
    assert store.backend.list_blobs("digits/") == []
    assert store.register("digits", onnx_file).version == 1


# --- unknown things ----------------------------------------------------------------------------


def test_unknown_model_version_alias_and_bad_refs(store: ModelStore, onnx_file: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="'nope'"):
        store.resolve("nope", "latest")
    with pytest.raises(ModelNotFoundError):
        store.resolve("nope", "3")
    store.register("digits", onnx_file, alias="champion")
    with pytest.raises(VersionNotFoundError, match="newest is 1"):
        store.resolve("digits", "7")
    with pytest.raises(AliasNotFoundError, match="known aliases: champion"):
        store.resolve("digits", "@candidate")
    with pytest.raises(AliasNotFoundError):
        store.alias_history("digits", "candidate")
    with pytest.raises(InvalidReferenceError):
        store.resolve("digits", "v1")
    with pytest.raises(VersionNotFoundError):
        store.set_alias("digits", "champion", 9)


# --- integrity ---------------------------------------------------------------------------------


def test_tampered_model_blob_fails_verify_and_download_atomically(
    store: ModelStore, onnx_file: Path, tmp_path: Path
) -> None:
    manifest = store.register("digits", onnx_file)
    blob = file_path("digits", 1, "model.onnx")
    original = onnx_file.read_bytes()
    tampered = bytearray(original)
    tampered[-1] ^= 0xFF
    store.backend.put(blob, bytes(tampered))

    with pytest.raises(ChecksumMismatchError, match=r"model\.onnx is corrupted"):
        store.verify("digits", "latest")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"previous model")
    with pytest.raises(ChecksumMismatchError):
        store.download("digits", "1", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["model.onnx"]
    assert (dest / "model.onnx").read_bytes() == b"previous model"

    store.backend.put(blob, original[:-10])
    with pytest.raises(ChecksumMismatchError, match="size"):
        store.verify("digits", 1)
    store.backend.put(blob, original + b"extra")
    with pytest.raises(ChecksumMismatchError, match="size"):
        store.verify("digits", 1)
    store.backend.delete(blob)
    with pytest.raises(ChecksumMismatchError, match="missing"):
        store.verify("digits", 1)
    store.backend.put(blob, original)
    assert store.verify("digits", 1) == manifest


def test_download_writes_verified_files_and_manifest(
    store: ModelStore, onnx_file: Path, tmp_path: Path
) -> None:
    manifest = store.register("digits", onnx_file, metrics={"accuracy": 0.9})
    dest = tmp_path / "models"
    assert store.download("digits", "latest", dest) == manifest
    assert (dest / "model.onnx").read_bytes() == onnx_file.read_bytes()
    assert Manifest.model_validate_json((dest / "manifest.json").read_bytes()) == manifest
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "model.onnx"]


def test_tampered_manifest_is_detected(store: ModelStore, onnx_file: Path) -> None:
    store.register("digits", onnx_file, metrics={"accuracy": 0.5})
    store.register("digits", onnx_file)
    path = manifest_path("digits", 1)
    blob = store.backend.get(path)
    forged = blob.data.replace(b'"accuracy":0.5', b'"accuracy":0.99')

    store.backend.put(path, forged)  # rewritten outside the store: recorded digest gone
    with pytest.raises(ManifestCorruptError, match="recorded digest is gone"):
        store.get_manifest("digits", 1)
    store.backend.put(path, forged, metadata=blob.metadata)  # digest kept, bytes changed
    with pytest.raises(ManifestCorruptError, match="sha256"):
        store.resolve("digits", "1")
    other = store.backend.get(manifest_path("digits", 2))
    store.backend.put(path, other.data, metadata=other.metadata)  # v2's manifest copied to v1
    with pytest.raises(ManifestCorruptError, match="describes digits v2"):
        store.verify("digits", 1)
    garbage = b"{not json"
    store.backend.put(path, garbage, metadata={"manifest_sha256": sha256_hex(garbage)})
    with pytest.raises(ManifestCorruptError, match="invalid manifest"):
        store.get_manifest("digits", 1)


def test_missing_manifest_means_the_version_does_not_exist(
    store: ModelStore, onnx_file: Path
) -> None:
    store.register("digits", onnx_file)
    store.register("digits", onnx_file)
    store.backend.delete(manifest_path("digits", 2))
    with pytest.raises(VersionNotFoundError, match="no manifest"):
        store.resolve("digits", "2")
    with pytest.raises(VersionNotFoundError, match="no manifest"):
        store.resolve("digits", "latest")
    assert store.list_version_numbers("digits") == [1]
    assert store.reindex("digits").latest == 1
    assert store.resolve("digits", "latest").version == 1
    assert store.register("digits", onnx_file).version == 3  # a claimed number is never reused


# --- aliases -----------------------------------------------------------------------------------


def test_alias_moves_are_recorded_in_history(store: ModelStore, onnx_factory: OnnxFactory) -> None:
    for seed in range(3):
        store.register("digits", onnx_factory(seed))
    first = store.set_alias("digits", "champion", 1, author="alice")
    second = store.set_alias("digits", "champion", 3, author="bob")
    again = store.set_alias("digits", "champion", 3, author="carol")
    assert (first.from_version, first.to_version) == (None, 1)
    assert (second.from_version, second.to_version, second.by) == (1, 3, "bob")
    assert again == second  # already there: nothing written
    store.set_alias("digits", "candidate", 2)
    assert store.get_aliases("digits") == {"candidate": 2, "champion": 3}
    history = store.alias_history("digits", "champion")
    assert [(e.from_version, e.to_version, e.by) for e in history] == [
        (None, 1, "alice"),
        (1, 3, "bob"),
    ]


def test_alias_compare_and_set_refuses_when_moved(store: ModelStore, onnx_file: Path) -> None:
    for _ in range(3):
        store.register("digits", onnx_file)
    store.set_alias("digits", "champion", 1)
    with pytest.raises(AliasConflictError, match="is at version 1, not at version 2"):
        store.set_alias("digits", "champion", 3, expected_version=2)
    store.set_alias("digits", "champion", 2, expected_version=1)
    assert store.resolve("digits", "@champion").version == 2


def test_concurrent_compare_and_set_lets_exactly_one_writer_win(
    store: ModelStore, onnx_file: Path
) -> None:
    for _ in range(9):
        store.register("digits", onnx_file)
    store.set_alias("digits", "champion", 1)
    start = threading.Barrier(8)

    def move(target: int) -> int | None:
        start.wait()
        try:
            return store.set_alias("digits", "champion", target, expected_version=1).to_version
        except AliasConflictError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(move, range(2, 10)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.resolve("digits", "@champion").version == winners[0]
    assert len(store.alias_history("digits", "champion")) == 2


def test_concurrent_unconditional_moves_lose_no_history(store: ModelStore, onnx_file: Path) -> None:
    for _ in range(9):
        store.register("digits", onnx_file)
    start = threading.Barrier(8)

    def move(target: int) -> None:
        start.wait()
        store.set_alias("digits", "champion", target)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(move, range(2, 10)))
    history = store.alias_history("digits", "champion")
    assert sorted(e.to_version for e in history) == list(range(2, 10))
    chain = [e.from_version for e in history[1:]]
    assert chain == [e.to_version for e in history[:-1]]  # every move starts where the last ended
    assert store.get_aliases("digits") == {"champion": history[-1].to_version}


# --- archive -----------------------------------------------------------------------------------


def test_archive_hides_from_latest_but_keeps_exact_versions(
    store: ModelStore, onnx_factory: OnnxFactory
) -> None:
    for seed in range(4):
        store.register("digits", onnx_factory(seed))
    store.backend.delete(manifest_path("digits", 3))  # a gap (failed registration) below latest
    archived = store.archive("digits", 4)
    assert archived.archived
    assert store.resolve("digits", "latest").version == 2
    assert store.archive("digits", 4) == archived  # idempotent
    assert store.resolve("digits", "4").archived
    assert store.verify("digits", 4).archived
    with pytest.raises(ArchivedVersionError):
        store.set_alias("digits", "champion", 4)
    store.archive("digits", 1)
    assert store.resolve("digits", "latest").version == 2
    store.archive("digits", 2)
    with pytest.raises(NoLatestVersionError):
        store.resolve("digits", "latest")
    assert store.register("digits", onnx_factory(9)).version == 5
    assert store.resolve("digits", "latest").version == 5
    assert [m.version for m in store.list_versions("digits", include_archived=False)] == [5]
    assert store.reindex("digits").archived == [1, 2, 4]


def test_archive_after_index_loss_is_repaired_by_reindex(
    store: ModelStore, onnx_file: Path
) -> None:
    store.register("digits", onnx_file)
    store.register("digits", onnx_file)
    store.backend.delete(index_path("digits"))
    assert store.reindex("digits").latest == 2
    assert store.backend.get(claim_path("digits", 2)).data


# --- configuration and outages -----------------------------------------------------------------


def test_from_env_needs_exactly_one_setting(azurite: Any, container: str, onnx_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="no model store configured"):
        ModelStore.from_env({})
    with pytest.raises(ConfigurationError, match="set only one"):
        ModelStore.from_env(
            {
                "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
                "MODELSTORE_ACCOUNT_URL": "https://x.blob.core.windows.net",
            }
        )
    store = ModelStore.from_env(
        {
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "MODELSTORE_CONTAINER": container,
        }
    )
    assert store.register("digits", onnx_file).version == 1
    assert isinstance(store.backend, AzureBlobBackend)
    assert store.backend.container_name == container


def test_storage_down_fails_register_and_resolve_quickly(onnx_file: Path) -> None:
    from localworld.process import free_port

    down = ModelStore.from_connection_string(
        AZURITE_DOWN.format(port=free_port()), retry=FAST_RETRY
    )
    with pytest.raises(StorageUnavailableError, match="unreachable after 3 attempts"):
        down.resolve("digits", "latest")
    with pytest.raises(StorageUnavailableError):
        down.register("digits", onnx_file)


def test_account_url_path_works_with_an_explicit_credential(
    azurite: Any, container: str, onnx_file: Path
) -> None:
    from azure.core.credentials import AzureNamedKeyCredential

    from localworld.services import AZURITE_ACCOUNT, AZURITE_KEY

    store = ModelStore.from_account_url(
        azurite.blob_endpoint,
        container,
        credential=AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
        retry=FAST_RETRY,
    )
    assert store.register("digits", onnx_file).version == 1
    assert store.resolve("digits", "latest").version == 1


def test_from_env_account_url_uses_default_credential_without_leaking_secrets() -> None:
    # Only constructed: a request would ask Azure AD for a token, which is not reachable here.
    store = ModelStore.from_env(
        {
            "MODELSTORE_ACCOUNT_URL": "https://acct.blob.core.windows.net/?sv=1&sig=SECRET",
            "MODELSTORE_CONTAINER": "ml",
        }
    )
    assert store.backend.endpoint == "https://acct.blob.core.windows.net/ml"


# --- lost replies and partial failures ---------------------------------------------------------


class FailingIndexWrites:
    """Backend wrapper: every write of the pointer blob fails as an outage would."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, path: str, data: bytes, **kwargs: Any) -> str:
        if path.endswith("/index.json"):
            raise StorageUnavailableError(self.inner.endpoint, 3, "injected outage")
        return self.inner.put(path, data, **kwargs)


class UnconfirmableManifest(FailingManifestWrites):
    """The manifest write fails and reading it back fails too: the outcome is unknown."""

    def get(self, path: str) -> Any:
        if path.endswith("/manifest.json"):
            raise StorageUnavailableError(self.inner.endpoint, 3, "injected outage")
        return self.inner.get(path)


class ForeignManifest(FailingManifestWrites):
    """The manifest write conflicts with a different manifest already stored at the number."""

    def put(self, path: str, data: bytes, **kwargs: Any) -> str:
        if path.endswith("/manifest.json"):
            other = data.replace(b'"tester"', b'"mallory"')
            self.inner.put(path, other, metadata={"manifest_sha256": sha256_hex(other)})
            raise BlobConflictError(path)
        return self.inner.put(path, data, **kwargs)


def test_lost_reply_on_the_manifest_write_still_publishes_the_version(
    azurite: Any, container: str, store: ModelStore, onnx_file: Path
) -> None:
    lossy, seam = lossy_store(
        azurite.connection_string, container, lambda p: p.endswith("manifest.json")
    )
    manifest = lossy.register("digits", onnx_file)
    assert seam.lost == [manifest_path("digits", 1)]  # the retry met 409: the write had landed
    assert manifest.version == 1
    assert store.verify("digits", 1) == manifest
    assert store.resolve("digits", "latest").version == 1
    assert store.register("digits", onnx_file).version == 2
    assert store.verify("digits", 1) == manifest


def test_lost_reply_on_a_file_upload_is_not_a_failure(
    azurite: Any, container: str, store: ModelStore, onnx_file: Path
) -> None:
    lossy, seam = lossy_store(azurite.connection_string, container, lambda p: "model.onnx" in p)
    manifest = lossy.register("digits", onnx_file)
    assert seam.lost == [file_path("digits", 1, "model.onnx")]
    assert store.verify("digits", "latest") == manifest


def test_lost_replies_on_index_writes_are_harmless(
    azurite: Any, container: str, store: ModelStore, onnx_file: Path
) -> None:
    lossy, seam = lossy_store(azurite.connection_string, container, lambda p: "index" in p)
    lossy.register("digits", onnx_file)
    seam.lost.clear()  # lose the reply of the update (If-Match) too, not only of the creation
    lossy.register("digits", onnx_file)
    assert seam.lost == [index_path("digits")]
    assert store.latest_version("digits") == 2


def test_a_file_already_stored_with_other_bytes_still_fails_the_registration(
    store: ModelStore, onnx_file: Path
) -> None:
    store.backend.ensure_container()
    store.backend.put(claim_path("digits", 1), b"{}")  # someone else's number ...
    store.backend.put(file_path("digits", 2, "model.onnx"), b"stale bytes")  # ... and junk at 2
    with pytest.raises(BlobConflictError):
        store.register("digits", onnx_file)
    assert store.backend.list_blobs(version_prefix("digits", 2)) == []  # cleaned up, unpublished
    assert store.register("digits", onnx_file).version == 2


def test_index_failure_after_the_manifest_says_the_version_exists(
    store: ModelStore, onnx_file: Path
) -> None:
    failing = ModelStore(FailingIndexWrites(store.backend), author="tester")
    with pytest.raises(RegistrationIncompleteError, match="v1: registered, but") as caught:
        failing.register("digits", onnx_file)
    assert caught.value.published is True
    assert caught.value.manifest == store.verify("digits", 1)
    assert store.resolve("digits", "latest").version == 1  # no index yet: from the listing
    assert store.latest_version("digits") == 1
    with pytest.raises(RegistrationIncompleteError):
        failing.register("digits", onnx_file)  # the index still does not exist
    assert store.register("digits", onnx_file).version == 3  # the claims keep numbers unique
    assert store.resolve("digits", "latest").version == 3
    assert store.list_version_numbers("digits") == [1, 2, 3]


def test_manifest_write_with_unknown_outcome_keeps_the_files(
    store: ModelStore, onnx_file: Path
) -> None:
    failing = ModelStore(UnconfirmableManifest(store.backend), author="tester")
    with pytest.raises(RegistrationIncompleteError, match="could not confirm") as caught:
        failing.register("digits", onnx_file)
    assert caught.value.published is None
    kept = {b.name for b in store.backend.list_blobs("digits/")}
    assert kept == {claim_path("digits", 1), file_path("digits", 1, "model.onnx")}
    assert store.register("digits", onnx_file).version == 2


def test_someone_elses_manifest_at_our_number_is_left_alone(
    store: ModelStore, onnx_file: Path
) -> None:
    failing = ModelStore(ForeignManifest(store.backend), author="tester")
    with pytest.raises(RegistrationIncompleteError, match="another manifest") as caught:
        failing.register("digits", onnx_file)
    assert caught.value.published is False
    assert store.verify("digits", 1).author == "mallory"  # its files were not deleted


# --- untrusted manifests -----------------------------------------------------------------------


def test_download_refuses_a_manifest_whose_file_path_escapes(
    store: ModelStore, onnx_file: Path, tmp_path: Path
) -> None:
    # Someone with write access to the container adds an absolute path and re-records the digest.
    manifest = store.register("evil", onnx_file)
    escaped = tmp_path / "escaped.txt"
    payload = b"pwned\n"
    store.backend.put(file_path("evil", 1, str(escaped)), payload)
    doc = json.loads(store.backend.get(manifest_path("evil", 1)).data)
    doc["files"].append({"path": str(escaped), "sha256": sha256_hex(payload), "size": 6})
    data = canonical_json(doc)
    store.backend.put(
        manifest_path("evil", 1), data, metadata={"manifest_sha256": sha256_hex(data)}
    )
    dest = tmp_path / "dl" / "a" / "b"
    with pytest.raises(ManifestCorruptError, match="file path"):
        store.download("evil", manifest.version, dest)
    assert not escaped.exists()
    assert not dest.exists() or list(dest.iterdir()) == []


def test_download_refuses_to_follow_a_symlink_out_of_the_destination(
    store: ModelStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_onnx(src / "model.onnx")
    (src / "extra").mkdir()
    (src / "extra" / "labels.json").write_text("[]")
    store.register("digits", src)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "extra").symlink_to(outside)
    with pytest.raises(ManifestCorruptError, match="leads outside"):
        store.download("digits", 1, dest)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == ["extra"]


def test_an_oversized_manifest_is_refused_without_reading_it_whole(
    store: ModelStore, onnx_file: Path
) -> None:
    store.register("digits", onnx_file)
    huge = b" " * (2 * 1024 * 1024)
    store.backend.put(manifest_path("digits", 1), huge, metadata={"manifest_sha256": "x"})
    with pytest.raises(ManifestCorruptError, match="2097152 bytes"):
        store.resolve("digits", 1)


def test_malformed_connection_string_raises_configuration_error() -> None:
    for malformed in ("x", "garbage;AccountKey=SECRETKEY", "a=b=c;;"):
        with pytest.raises(ConfigurationError, match="is malformed") as caught:
            ModelStore.from_env({"AZURE_STORAGE_CONNECTION_STRING": malformed})
        assert "SECRETKEY" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="is malformed"):
        ModelStore.from_connection_string("")


def test_listing_versions_marks_a_corrupt_manifest_and_keeps_the_rest(
    store: ModelStore, onnx_file: Path
) -> None:
    for _ in range(3):
        store.register("digits", onnx_file)
    garbage = b"{not json"
    store.backend.put(
        manifest_path("digits", 2), garbage, metadata={"manifest_sha256": sha256_hex(garbage)}
    )
    entries = store.list_version_entries("digits")
    assert [e.version for e in entries] == [1, 2, 3]
    assert isinstance(entries[0], Manifest) and isinstance(entries[2], Manifest)
    assert isinstance(entries[1], ManifestCorruptError)
    assert "invalid manifest" in str(entries[1])
    with pytest.raises(ManifestCorruptError):  # the strict listing still says so
        store.list_versions("digits")


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under root: file -> bytes, directory -> None (what 'as it was' compares)."""
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def _two_file_version(store: ModelStore, tmp_path: Path) -> tuple[Manifest, Path]:
    src = tmp_path / "two"
    make_onnx(src / "model.onnx")
    (src / "sub").mkdir()
    (src / "sub" / "labels.json").write_text('["0", "1"]')
    return store.register("digits", src), src


def test_download_after_an_integrity_failure_leaves_no_destination_behind(
    store: ModelStore, tmp_path: Path
) -> None:
    _two_file_version(store, tmp_path)
    store.backend.put(file_path("digits", 1, "sub/labels.json"), b"tampered")
    dest = tmp_path / "fresh" / "models"
    with pytest.raises(ChecksumMismatchError, match=r"sub/labels\.json"):
        store.download("digits", 1, dest)
    assert not dest.exists()
    assert not (tmp_path / "fresh").exists()  # nor the parent it created, nor a staging dir


def test_download_into_a_filled_directory_is_all_or_nothing(
    store: ModelStore, tmp_path: Path
) -> None:
    manifest, src = _two_file_version(store, tmp_path)
    dest = tmp_path / "models"
    (dest / "model.onnx").parent.mkdir()
    (dest / "model.onnx").write_bytes(b"previous model")
    (dest / "keep.txt").write_bytes(b"not ours")
    (dest / "sub" / "labels.json").mkdir(parents=True)  # a directory where a file must go
    before = _tree(dest)
    with pytest.raises(DestinationError, match=r"sub/labels\.json"):
        store.download("digits", 1, dest)
    assert _tree(dest) == before  # model.onnx was not replaced and then left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    (dest / "sub" / "labels.json").rmdir()
    assert store.download("digits", 1, dest) == manifest
    assert (dest / "model.onnx").read_bytes() == (src / "model.onnx").read_bytes()
    assert (dest / "sub" / "labels.json").read_text() == '["0", "1"]'
    assert (dest / "keep.txt").read_bytes() == b"not ours"
    assert Manifest.model_validate_json((dest / "manifest.json").read_bytes()) == manifest


def test_register_refuses_a_manifest_readers_could_not_read_before_claiming_a_version(
    store: ModelStore, counter: RequestCounter, tmp_path: Path
) -> None:
    """Every file adds a line to the manifest: enough long paths pass the small-blob read cap,
    which would leave a version that `show`, `list`, `verify` and the bot can never read."""
    src = tmp_path / "wide"
    make_onnx(src / "model.onnx")
    deep = src / ("d" * 200) / ("e" * 200)
    deep.mkdir(parents=True)
    for i in range(2_000):
        (deep / f"{i:04d}{'f' * 200}").write_bytes(b"x")
    with pytest.raises(ManifestTooLargeError, match="bytes, over the 1048576"):
        store.register("wide", src)
    assert counter.count == 0  # refused before any request: no claim, no upload
