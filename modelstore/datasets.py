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

import contextlib
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelstore.errors import InvalidDatasetError
from modelstore.manifest import Signature, TensorSpec

FEATURES = "X"
LABELS = "y"
MEMBERS = frozenset({f"{FEATURES}.npy", f"{LABELS}.npy"})
DATASET_PRIMARY = "data.npz"
DATASET_FRAMEWORK = "npz"  # the manifest's `framework` of an evaluation set
DEFAULT_BATCH_ROWS = 16_384  # 4 MiB of features at 64 per row
LOCAL_HEADER_SIZE = 30  # a zip member's fixed-size local header

if TYPE_CHECKING:  # numpy is imported where arrays are made: reading a manifest needs none
    import numpy as np
    import numpy.typing as npt

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
    import numpy as np

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
    with Reader(path) as reader:
        return reader.info


def check(path: Path, batch_rows: int = DEFAULT_BATCH_ROWS) -> DatasetInfo:
    """The whole format, values included: one streaming pass, bounded memory."""
    with Reader(path) as reader:
        for _ in reader.batches(batch_rows):
            pass
        return reader.info


def iter_batches(
    path: Path, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[tuple[Features, Labels]]:
    """(X rows as float32, y as int64), `batch_rows` rows at a time (see `Reader.batches`)."""
    with Reader(path) as reader:
        yield from reader.batches(batch_rows)


class Reader:
    """An open evaluation set: `info` from the headers (checked on opening), then one pass of
    `batches`. A member stored uncompressed (numpy.savez) is read straight from the file at its
    offset; a compressed one (savez_compressed) is inflated as it streams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._archive = _open(path)
        self._members: list[_Member] = []
        with contextlib.ExitStack() as on_error:
            on_error.callback(self.close)
            names = set(self._archive.namelist())
            if names != MEMBERS:
                found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "nothing"
                raise InvalidDatasetError(
                    str(path), f"it must hold exactly the arrays X and y, it holds {found}"
                )
            for name in (FEATURES, LABELS):
                self._members.append(_Member(path, self._archive, name))
            x, y = self._members
            self.info = _info(path, x.header, y.header)
            x.expect(self.info.rows * self.info.features)
            y.expect(self.info.rows)
            on_error.pop_all()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for member in self._members:
            member.close()
        self._archive.close()

    def batches(
        self, batch_rows: int = DEFAULT_BATCH_ROWS, *, reuse: bool = False
    ) -> Iterator[tuple[Features, Labels]]:
        """(X rows as float32, y as int64), `batch_rows` rows at a time; raises
        InvalidDatasetError at the first batch with a NaN or infinite feature value.

        With `reuse`, every batch is read into the same two buffers (no allocation and no
        fresh pages per batch): a batch is then valid only until the next one is read.
        """
        import numpy as np

        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        x_member, y_member = self._members
        rows, features = self.info.rows, self.info.features
        size = min(batch_rows, rows)
        x_buffer = np.empty(size * features, x_member.header.dtype) if reuse else None
        y_buffer = np.empty(size, y_member.header.dtype) if reuse else None
        for done in range(0, rows, batch_rows):
            count = min(batch_rows, rows - done)
            batch = x_member.read(count * features, x_buffer).reshape(count, features)
            finite = np.isfinite(batch)
            if not finite.all():
                row = done + int(np.argmin(finite.all(axis=1)))
                raise InvalidDatasetError(
                    str(self.path), f"{FEATURES} holds a NaN or infinite value (row {row})"
                )
            yield batch, y_member.read(count, y_buffer).astype(np.int64, copy=False)


class _Member:
    """One array of the archive, its header parsed, the stream positioned at its data."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, name: str) -> None:
        self.path, self.name = path, name
        entry = archive.getinfo(f"{name}.npy")
        if entry.compress_type == zipfile.ZIP_STORED:
            self.stream, start = _stored(path, entry)
        else:
            self.stream, start = archive.open(entry), 0
        with contextlib.ExitStack() as on_error:
            on_error.callback(self.stream.close)
            self.header = _read_header(path, name, self.stream)
            self.data_size = entry.file_size - (self.stream.tell() - start)
            on_error.pop_all()

    def expect(self, items: int) -> None:
        """The data must be exactly what the header announces (never read past the member)."""
        if self.data_size != items * self.header.dtype.itemsize:
            raise InvalidDatasetError(
                str(self.path), f"{self.name} does not hold the {items} values its header says"
            )

    def read(self, items: int, out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """The next `items` values: into the start of `out` when given, else a new array."""
        import numpy as np

        target = np.empty(items, self.header.dtype) if out is None else out[:items]
        view, filled = target.data.cast("B"), 0
        try:
            while filled < len(view):
                got = self.stream.readinto(view[filled:])  # type: ignore[attr-defined]
                if not got:
                    raise InvalidDatasetError(str(self.path), f"{self.name} ends early")
                filled += got
        except (zlib.error, zipfile.BadZipFile, OSError) as exc:
            raise InvalidDatasetError(str(self.path), f"{self.name} is damaged ({exc})") from None
        return target

    def close(self) -> None:
        self.stream.close()


def _stored(path: Path, entry: zipfile.ZipInfo) -> tuple[IO[bytes], int]:
    """The archive file positioned at an uncompressed member's first byte, and that offset
    (the local header's name and extra fields may differ from the central directory's)."""
    handle = path.open("rb")
    with contextlib.ExitStack() as on_error:
        on_error.callback(handle.close)
        handle.seek(entry.header_offset)
        local = handle.read(LOCAL_HEADER_SIZE)
        if len(local) != LOCAL_HEADER_SIZE or local[:4] != b"PK\x03\x04":
            raise InvalidDatasetError(str(path), f"not an .npz file (member {entry.filename})")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        start = entry.header_offset + LOCAL_HEADER_SIZE + name_length + extra_length
        handle.seek(start)
        on_error.pop_all()
    return handle, start


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDatasetError(
            str(path), f"not an .npz file ({exc}); save it with numpy.savez"
        ) from None


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
    import numpy as np

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
    import numpy as np

    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f"unsupported .npy format version {version}")
