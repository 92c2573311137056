from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelstore.state import (
    Index,
    Layout,
    rebuilt_index,
    version_of_manifest_blob,
    with_archived,
    with_published,
)


def test_first_publish_creates_the_index() -> None:
    assert with_published(None, "digits", 1) == Index(name="digits", latest=1, max_version=1)


@given(st.permutations(list(range(1, 16))))
def test_latest_is_the_highest_version_whatever_the_publish_order(order: list[int]) -> None:
    index = None
    for version in order:
        index = with_published(index, "m", version)
    assert index is not None
    assert (index.latest, index.max_version) == (15, 15)


def test_archiving_latest_moves_latest_to_the_given_previous() -> None:
    index = Index(name="m", latest=3, max_version=3)
    archived = with_archived(index, "m", 3, next_latest=2)
    assert (archived.latest, archived.max_version, archived.archived) == (2, 3, [3])


def test_archiving_an_older_version_keeps_latest() -> None:
    index = Index(name="m", latest=3, max_version=3)
    assert with_archived(index, "m", 1, next_latest=None).latest == 3


def test_publishing_below_latest_keeps_latest_and_archived_never_becomes_latest() -> None:
    index = Index(name="m", latest=None, max_version=2, archived=[1, 2])
    assert with_published(index, "m", 2).latest is None
    assert with_published(index, "m", 3).latest == 3


def test_rebuilt_index_from_listing() -> None:
    assert rebuilt_index("m", {1: False, 2: False, 3: True}) == Index(
        name="m", latest=2, max_version=3, archived=[3]
    )
    assert rebuilt_index("m", {1: True}).latest is None


def test_version_of_manifest_blob_parses_only_manifests() -> None:
    assert version_of_manifest_blob("m", "m/versions/12/manifest.json") == 12
    assert version_of_manifest_blob("m", "m/versions/12/model.onnx") is None
    assert version_of_manifest_blob("m", "m/versions/012/manifest.json") is None
    assert version_of_manifest_blob("m", "mm/versions/1/manifest.json") is None


def test_a_layout_roots_every_path_of_its_kind() -> None:
    datasets = Layout("_datasets/")
    assert datasets.manifest_path("d", 3) == "_datasets/d/versions/3/manifest.json"
    assert datasets.alias_path("d", "gold") == "_datasets/d/aliases/gold.json"
    assert datasets.version_of_manifest_blob("d", "_datasets/d/versions/3/manifest.json") == 3
    assert datasets.version_of_manifest_blob("d", "d/versions/3/manifest.json") is None
    assert Layout().index_path("d") == "d/index.json"
