"""Evaluation sets stored by the model machinery (kind DATASET) on real Azurite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from modelstore import ModelStore
from modelstore.errors import (
    AliasConflictError,
    ChecksumMismatchError,
    InvalidDatasetError,
    InvalidModelFileError,
    InvalidNameError,
    ModelNotFoundError,
)
from modelstore.manifest import sha256_hex
from modelstore.state import Layout
from tests.modelstore.conftest import make_npz

DATASETS = Layout("_datasets/")


def test_a_dataset_version_is_a_manifest_with_sha256_and_shape(
    store: ModelStore, npz_file: Path
) -> None:
    manifest = store.datasets.register("holdout", npz_file, tags={"source": "digits"})
    assert (manifest.version, manifest.primary, manifest.framework) == (1, "data.npz", "npz")
    assert manifest.primary_sha256 == sha256_hex(npz_file.read_bytes())
    assert manifest.signature is not None
    assert manifest.signature.input_key() == "X:float32[40,64]"
    assert manifest.signature.outputs[0].key() == "y:int64[40]"
    stored = store.backend.get(DATASETS.manifest_path("holdout", 1)).data
    assert stored == manifest.to_canonical_json()
    assert store.backend.get(DATASETS.file_path("holdout", 1, "data.npz")).data == (
        npz_file.read_bytes()
    )
    assert store.datasets.resolve("holdout", "latest") == manifest


def test_datasets_and_models_live_apart_even_under_one_name(
    store: ModelStore, npz_file: Path, onnx_file: Path
) -> None:
    store.register("digits", onnx_file)
    store.datasets.register("digits", npz_file)
    store.datasets.register("digits", make_npz(npz_file.parent / "b.npz", seed=1))
    assert store.list_models() == ["digits"]
    assert store.datasets.list_models() == ["digits"]
    assert store.latest_version("digits") == 1
    assert store.datasets.latest_version("digits") == 2
    assert store.resolve("digits", 1).framework == "onnx"
    assert store.datasets.resolve("digits", 1).framework == "npz"


def test_concurrent_dataset_registrations_get_distinct_versions(
    store: ModelStore, tmp_path: Path
) -> None:
    files = [make_npz(tmp_path / f"s{i}.npz", seed=i) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = sorted(pool.map(lambda f: store.datasets.register("holdout", f).version, files))
    assert versions == [1, 2, 3, 4]
    shas = {store.datasets.verify("holdout", v).primary_sha256 for v in versions}
    assert shas == {sha256_hex(f.read_bytes()) for f in files}


def test_a_file_outside_the_format_is_refused_before_anything_is_written(
    store: ModelStore, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.zeros((3, 2)), y=np.zeros(3, np.int64))
    with pytest.raises(InvalidDatasetError, match="X is float64, not float32"):
        store.datasets.register("holdout", bad)
    csv = tmp_path / "set.csv"
    csv.write_text("1,2\n")
    with pytest.raises(InvalidDatasetError, match=r"an evaluation set is an \.npz file"):
        store.datasets.register("holdout", csv)
    with pytest.raises(InvalidModelFileError, match="the file is empty"):
        (tmp_path / "empty.npz").touch()
        store.datasets.register("holdout", tmp_path / "empty.npz")
    with pytest.raises(InvalidNameError, match="invalid dataset name"):
        store.datasets.register("Hold Out", bad)
    assert store.backend.list_blobs("") == []


def test_a_tampered_dataset_fails_verify(store: ModelStore, npz_file: Path) -> None:
    store.datasets.register("holdout", npz_file)
    path = DATASETS.file_path("holdout", 1, "data.npz")
    store.backend.delete(path)
    store.backend.put(path, make_npz(npz_file.parent / "other.npz", seed=9).read_bytes())
    with pytest.raises(ChecksumMismatchError, match=r"holdout v1: data\.npz is corrupted"):
        store.datasets.verify("holdout", 1)
    with pytest.raises(ChecksumMismatchError):
        store.datasets.download("holdout", 1, npz_file.parent / "out")
    assert not (npz_file.parent / "out").exists()


def test_dataset_aliases_have_history_and_errors_name_the_dataset(
    store: ModelStore, npz_file: Path
) -> None:
    store.datasets.register("holdout", npz_file, alias="golden")
    store.datasets.register("holdout", make_npz(npz_file.parent / "b.npz", seed=1))
    store.datasets.set_alias("holdout", "golden", 2, expected_version=1)
    assert store.datasets.resolve("holdout", "@golden").version == 2
    assert [e.to_version for e in store.datasets.alias_history("holdout", "golden")] == [1, 2]
    with pytest.raises(AliasConflictError, match="alias 'golden' of dataset 'holdout' is at"):
        store.datasets.set_alias("holdout", "golden", 1, expected_version=1)
    with pytest.raises(ModelNotFoundError, match=r"dataset 'nope' not found.*`dataset register`"):
        store.datasets.resolve("nope", "latest")
    assert store.get_aliases("holdout") == {}  # the models beside it are untouched
    with pytest.raises(ModelNotFoundError, match="model 'holdout' not found"):
        store.resolve("holdout", "latest")
