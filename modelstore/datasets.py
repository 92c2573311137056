"""Evaluation sets on disk: the `.npz` format, checked and read in bounded memory.

The format (what `modelstore dataset register` accepts), written by `numpy.savez` or
`numpy.savez_compressed`, loadable with `numpy.load(path, allow_pickle=False)`:

- exactly two members, `X` and `y`;
- `X`: float32, two dimensions (rows x features), C order, every value finite (no NaN, no inf);
- `y`: integers (any signed or unsigned width), one dimension, one label per row of `X`;
- at least one row and one feature.

An object array (which needs pickle) is refused, and so is anything else outside the format.
Nothing here loads a whole member: the array headers are parsed on their own, then rows stream
out of the zip members `batch_rows` at a time, so a 1,000,000-row set needs a few MiB.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from modelstore.errors import InvalidDatasetError
from modelstore.manifest import Signature, TensorSpec

FEATURES = "X"
LABELS = "y"
MEMBERS = frozenset({f"{FEATURES}.npy", f"{LABELS}.npy"})
DATASET_PRIMARY = "data.npz"
DEFAULT_BATCH_ROWS = 8192

Features = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DatasetInfo:
    """What the array headers say: the set's size and the labels' stored dtype."""

    rows: int
    features: int
    label_dtype: str

    def signature(self) -> Signature:
        """The manifest's description of the set: `X` float32[rows, features], `y` int[rows]."""
        return Signature(
            inputs=[TensorSpec(name=FEATURES, dtype="float32", shape=[self.rows, self.features])],
            outputs=[TensorSpec(name=LABELS, dtype=self.label_dtype, shape=[self.rows])],
        )


@dataclass(frozen=True)
class _Header:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool


def npz_bytes(x: npt.ArrayLike, y: npt.ArrayLike) -> bytes:
    """An evaluation set in the format, byte for byte the same for the same arrays (fixed zip
    timestamps, unlike `numpy.savez`), so registering the same split twice is recognisable."""
    features = np.ascontiguousarray(x, dtype=np.float32)
    labels = np.ascontiguousarray(y, dtype=np.int64)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member, array in ((FEATURES, features), (LABELS, labels)):
            with archive.open(zipfile.ZipInfo(f"{member}.npy"), "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
    return buffer.getvalue()


def read_info(path: Path) -> DatasetInfo:
    """Check the members and their headers (no array data is read)."""
    with _open(path) as archive:
        x_header, y_header = _headers(path, archive)
    return _info(path, x_header, y_header)


def check(path: Path, batch_rows: int = DEFAULT_BATCH_ROWS) -> DatasetInfo:
    """The whole format, values included: one streaming pass, bounded memory."""
    info = read_info(path)
    for _ in iter_batches(path, batch_rows):
        pass
    return info


def iter_batches(
    path: Path, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[tuple[Features, Labels]]:
    """(X rows as float32, y as int64), `batch_rows` rows at a time; raises InvalidDatasetError
    at the first non-finite feature value."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    with _open(path) as archive:
        x_header, y_header = _headers(path, archive)
        info = _info(path, x_header, y_header)
        with archive.open(f"{FEATURES}.npy") as xs, archive.open(f"{LABELS}.npy") as ys:
            _header_fields(xs)
            _header_fields(ys)
            done = 0
            while done < info.rows:
                count = min(batch_rows, info.rows - done)
                x = _read_rows(path, xs, x_header.dtype, count * info.features)
                y = _read_rows(path, ys, y_header.dtype, count)
                batch = x.reshape(count, info.features).astype(np.float32, copy=False)
                if not np.isfinite(batch).all():
                    row = done + int(np.argwhere(~np.isfinite(batch))[0][0])
                    raise InvalidDatasetError(
                        str(path), f"{FEATURES} holds a NaN or infinite value (row {row})"
                    )
                yield batch, y.astype(np.int64, copy=False)
                done += count


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDatasetError(
            str(path), f"not an .npz file ({exc}); save it with numpy.savez"
        ) from None


def _headers(path: Path, archive: zipfile.ZipFile) -> tuple[_Header, _Header]:
    names = set(archive.namelist())
    if names != MEMBERS:
        found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "nothing"
        raise InvalidDatasetError(
            str(path), f"it must hold exactly the arrays X and y, it holds {found}"
        )
    headers = []
    for member in (FEATURES, LABELS):
        with archive.open(f"{member}.npy") as stream:
            headers.append(_read_header(path, member, stream))
    return headers[0], headers[1]


def _read_header(path: Path, member: str, stream: IO[bytes]) -> _Header:
    try:
        shape, fortran_order, dtype = _header_fields(stream)
    except (ValueError, OSError, SyntaxError) as exc:
        raise InvalidDatasetError(str(path), f"{member} is not a readable array ({exc})") from None
    if dtype.hasobject:
        raise InvalidDatasetError(
            str(path), f"{member} holds Python objects, which need pickle: not accepted"
        )
    if fortran_order and len(shape) > 1:
        raise InvalidDatasetError(
            str(path), f"{member} is in Fortran order: save numpy.ascontiguousarray({member})"
        )
    return _Header(dtype=dtype, shape=tuple(int(d) for d in shape), fortran_order=fortran_order)


def _info(path: Path, x: _Header, y: _Header) -> DatasetInfo:
    where = str(path)
    if x.dtype.fields is not None or x.dtype != np.dtype(np.float32):
        raise InvalidDatasetError(
            where, f"{FEATURES} is {x.dtype}, not float32: save X.astype(numpy.float32)"
        )
    if len(x.shape) != 2:
        raise InvalidDatasetError(where, f"{FEATURES} must have 2 dimensions, it has {x.shape}")
    if y.dtype.fields is not None or y.dtype.kind not in "iu":
        raise InvalidDatasetError(where, f"{LABELS} is {y.dtype}, not integer class labels")
    if len(y.shape) != 1:
        raise InvalidDatasetError(where, f"{LABELS} must have 1 dimension, it has {y.shape}")
    rows, features = x.shape
    if y.shape[0] != rows:
        raise InvalidDatasetError(
            where, f"{FEATURES} has {rows} rows but {LABELS} has {y.shape[0]} labels"
        )
    if rows == 0 or features == 0:
        raise InvalidDatasetError(where, f"the set is empty ({FEATURES} is {rows}x{features})")
    return DatasetInfo(rows=rows, features=features, label_dtype=str(y.dtype.name))


def _header_fields(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from an .npy header; leaves `stream` at the data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_rows(path: Path, stream: IO[bytes], dtype: np.dtype[Any], count: int) -> np.ndarray:
    wanted = count * dtype.itemsize
    data = stream.read(wanted)
    if len(data) != wanted:
        raise InvalidDatasetError(str(path), "an array is shorter than its header says")
    return np.frombuffer(data, dtype=dtype)
