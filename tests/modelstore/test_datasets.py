"""The evaluation-set format: what is accepted, what is refused and why, bounded streaming."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelstore.datasets import Reader, check, iter_batches, npz_bytes, read_info
from modelstore.errors import InvalidDatasetError, InvalidInputError
from tests.modelstore.conftest import make_npz


def _save(path: Path, compressed: bool = False, **arrays: Any) -> Path:
    if compressed:
        np.savez_compressed(path, **arrays)
    else:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_batches_stream_every_row_in_order(tmp_path: Path, compressed: bool) -> None:
    x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    y = np.arange(23, dtype=np.int32)
    path = _save(tmp_path / "d.npz", compressed, X=x, y=y)
    batches = list(iter_batches(path, batch_rows=5))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    assert np.array_equal(np.concatenate([b[0] for b in batches]), x)
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y)
    assert all(b[0].dtype == np.float32 and b[1].dtype == np.int64 for b in batches)
    info = check(path)
    assert (info.rows, info.features, info.label_dtype) == (23, 3, "int32")
    assert info.signature().input_key() == "X:float32[23,3]"


def test_the_documented_format_loads_without_pickle(npz_file: Path) -> None:
    with np.load(npz_file, allow_pickle=False) as data:
        assert data["X"].shape == (40, 64)
    assert read_info(npz_file).rows == 40


def test_object_arrays_are_refused_as_pickles(tmp_path: Path) -> None:
    path = _save(
        tmp_path / "p.npz", X=np.array([[{"a": 1}]], dtype=object), y=np.array([0], dtype=np.int64)
    )
    with pytest.raises(InvalidDatasetError, match="X holds Python objects, which need pickle"):
        check(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((2, 3), np.float32)}, "exactly the arrays X and y, it holds X"),
        (
            {"X": np.zeros((2, 3), np.float32), "y": np.zeros(2, np.int64), "z": np.zeros(1)},
            "it holds X, y, z",
        ),
        ({"X": np.zeros((2, 3)), "y": np.zeros(2, np.int64)}, "X is float64, not float32"),
        ({"X": np.zeros(3, np.float32), "y": np.zeros(3, np.int64)}, "X must have 2 dimensions"),
        ({"X": np.zeros((2, 3), np.float32), "y": np.zeros(2)}, "y is float64, not integer"),
        ({"X": np.zeros((2, 3), np.float32), "y": np.zeros((2, 1), np.int64)}, "y must have 1"),
        ({"X": np.zeros((2, 3), np.float32), "y": np.zeros(3, np.int64)}, "2 rows but y has 3"),
        ({"X": np.zeros((0, 3), np.float32), "y": np.zeros(0, np.int64)}, "the set is empty"),
        ({"X": np.zeros((2, 0), np.float32), "y": np.zeros(2, np.int64)}, "the set is empty"),
        (
            {"X": np.asfortranarray(np.zeros((2, 3), np.float32)), "y": np.zeros(2, np.int64)},
            "Fortran order",
        ),
    ],
)
def test_files_outside_the_format_are_refused_with_the_reason(
    tmp_path: Path, arrays: dict[str, Any], message: str
) -> None:
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InvalidDatasetError, match=message) as caught:
        check(path)
    assert isinstance(caught.value, InvalidInputError)  # a usage error for the CLI (exit 2)
    assert str(path) in str(caught.value)


def test_nan_or_inf_features_are_refused_naming_the_row(tmp_path: Path) -> None:
    x = np.zeros((10, 2), np.float32)
    x[7, 1] = np.nan
    path = _save(tmp_path / "nan.npz", X=x, y=np.zeros(10, np.int64))
    with pytest.raises(InvalidDatasetError, match=r"NaN or infinite value \(row 7\)"):
        check(path, batch_rows=3)
    x[7, 1] = np.inf
    with pytest.raises(InvalidDatasetError, match="row 7"):
        check(_save(tmp_path / "inf.npz", X=x, y=np.zeros(10, np.int64)))


def test_a_file_that_is_no_zip_or_is_truncated_is_refused(tmp_path: Path, npz_file: Path) -> None:
    text = tmp_path / "x.npz"
    text.write_text("X,y\n1,2\n")
    with pytest.raises(InvalidDatasetError, match=r"not an \.npz file"):
        check(text)
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(short, "w") as archive:
        for member in ("X", "y"):
            with zipfile.ZipFile(npz_file) as source:
                archive.writestr(f"{member}.npy", source.read(f"{member}.npy")[:200])
    with pytest.raises(InvalidDatasetError, match="X does not hold the 2560 values its header"):
        check(short)


def test_a_damaged_compressed_member_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = _save(
        tmp_path / "c.npz",
        compressed=True,
        X=rng.normal(size=(2000, 8)).astype(np.float32),
        y=np.zeros(2000, np.int64),
    )
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        start = archive.getinfo("X.npy").header_offset + 4000  # past the array header
    data[start : start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidDatasetError, match=r"X is damaged|X ends early"):
        check(path)


def test_large_member_is_read_one_batch_at_a_time(tmp_path: Path) -> None:
    path = make_npz(tmp_path / "big.npz", rows=5000, features=8)
    sizes = {len(y) for _, y in iter_batches(path, batch_rows=1024)}
    assert max(sizes) == 1024


def test_npz_bytes_are_reproducible_and_in_the_format(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    data = npz_bytes(x, [0, 1, 2, 1])
    assert data == npz_bytes(x, np.array([0, 1, 2, 1]))
    path = tmp_path / "d.npz"
    path.write_bytes(data)
    assert check(path).signature().input_key() == "X:float32[4,3]"
    with np.load(path, allow_pickle=False) as loaded:
        assert np.array_equal(loaded["X"], x.astype(np.float32))
        assert loaded["y"].dtype == np.int64


@pytest.mark.parametrize("compressed", [False, True])
def test_reused_buffers_hold_each_batch_until_the_next(tmp_path: Path, compressed: bool) -> None:
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    path = _save(tmp_path / "d.npz", compressed, X=x, y=np.arange(10))
    with Reader(path) as reader:
        seen = [(b.copy(), y.copy()) for b, y in reader.batches(4, reuse=True)]
    assert np.array_equal(np.concatenate([b for b, _ in seen]), x)
    assert np.concatenate([y for _, y in seen]).tolist() == list(range(10))
