"""Turn a parsed `/predict` body into a float32 batch, or say exactly what is wrong (pure, no I/O).

The fast path lets numpy convert the whole batch at once; it is taken only when its result is
provably the same as the careful path's (no JSON booleans in the body, a 2-D numeric array of the
right width, every value finite in float32). Anything else goes through the careful path, which
checks every value and reports each bad one by position.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import APIError

MAX_REPORTED = 20
FLOAT32_MAX = float(np.finfo(np.float32).max)
ALLOWED_KEYS = frozenset({"instances"})
_COMMA = ord(",")
_SMALL_BODY = 4096
BOUNDS_SLACK = 16  # values a body may hold beyond twice a full batch before it is parsed
# `ndarray.all()` without its Python-level wrapper (numpy's `_methods._all`): ~0.3 us per call.
_all = np.logical_and.reduce


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_body_bounds(raw: bytes, *, max_values: int, limits: str) -> None:
    """Refuse (413) a body that holds far more values than any acceptable one, before it is
    parsed.

    Parsing allocates a Python object per value: a 4 MiB body of `{}` is 1.4 million dicts
    (~100 MiB), so a few such bodies at once would exhaust a worker whatever the size limit.
    JSON separates the items of an array or object with commas, so the comma count bounds the
    number of values (nesting depth is bounded by the parser: 1,024 levels). The count is one
    vectorised byte scan, skipped for bodies too short to hold that many values, and an upper
    bound (a comma inside a string counts too); the bound given is generous (twice the largest
    acceptable body), so that bodies just over a limit still get the exact check, with its
    message, after parsing.
    """
    if len(raw) < 2 * max_values:
        return  # every value takes a byte and all but the last a comma: cannot be over
    # numpy counts ~10x faster than bytes.count on a 350 KB full batch (~20 us instead of ~200);
    # below a few KB its fixed cost is the larger.
    if len(raw) < _SMALL_BODY:
        values = raw.count(b",") + 1
    else:
        values = int(np.count_nonzero(np.frombuffer(raw, dtype=np.uint8) == _COMMA)) + 1
    if values > max_values:
        raise APIError(
            f"the body holds about {values} values, far more than {limits} can",
            status_code=413,
            code="too_many_values",
        )


def predict_body_bounds(raw: bytes, n_features: int, max_batch: int) -> None:
    """`check_body_bounds` for `/predict`: `{"instances": [[n numbers], ...]}` holds at most
    `max_batch * n_features` values."""
    check_body_bounds(
        raw,
        max_values=2 * max_batch * n_features + BOUNDS_SLACK,
        limits=f"a batch of {max_batch} rows of {n_features} numbers",
    )


def _batch(doc: Any, max_batch: int) -> list[Any]:
    if not isinstance(doc, dict):
        raise APIError(
            f'the body must be a JSON object like {{"instances": [[...]]}}, got {_type_name(doc)}'
        )
    unknown = sorted(set(doc) - ALLOWED_KEYS)
    if unknown:
        raise APIError(f"unknown field(s) {', '.join(unknown)}: only 'instances' is accepted")
    if "instances" not in doc:
        raise APIError("'instances' is required: a list of feature rows, or one row")
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise APIError(f"'instances' must be a list, got {_type_name(instances)}")
    if not instances:
        raise APIError("'instances' is empty: send at least one row")
    # One row (a flat list of numbers) or a batch of rows.
    batch = instances if isinstance(instances[0], list) else [instances]
    if len(batch) > max_batch:
        raise APIError(
            f"batch of {len(batch)} rows exceeds the limit of {max_batch}",
            status_code=413,
            code="batch_too_large",
        )
    return batch


def _fast(batch: list[Any], n_features: int) -> npt.NDArray[np.float32] | None:
    try:
        array = np.array(batch)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.ndim != 2 or array.shape[1] != n_features or array.dtype.kind not in "iuf":
        return None
    # JSON has no NaN or Infinity (the parser refuses them) and any integer fits float32's range,
    # so only floats beyond float32's range could make the cast overflow: one range check instead
    # of a per-request `np.errstate` and a finiteness pass over the cast array.
    if array.dtype.kind == "f" and not np.abs(array).max() <= FLOAT32_MAX:
        return None
    return array.astype(np.float32)


def _careful(batch: list[Any], n_features: int) -> npt.NDArray[np.float32]:
    problems: list[dict[str, Any]] = []
    total = 0

    def report(instance: int, feature: int | None, message: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < MAX_REPORTED:
            entry: dict[str, Any] = {"instance": instance}
            if feature is not None:
                entry["feature"] = feature
            entry["message"] = message
            problems.append(entry)

    for i, row in enumerate(batch):
        if not isinstance(row, list):
            report(i, None, f"expected a list of {n_features} numbers, got {_type_name(row)}")
            continue
        if len(row) != n_features:
            report(i, None, f"expected {n_features} features, got {len(row)}")
            continue
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, int | float):
                report(i, j, f"expected a number, got {_type_name(value)}")
            elif not math.isfinite(value) or abs(value) > FLOAT32_MAX:
                report(i, j, f"{value!r} is outside the finite float32 range")
    if problems:
        more = f" (showing the first {MAX_REPORTED})" if total > MAX_REPORTED else ""
        raise APIError(
            f"{total} invalid value(s) in 'instances'{more}",
            code="invalid_input",
            details=problems,
        )
    return np.array(batch, dtype=np.float32)


def parse_instances(
    doc: Any,
    n_features: int,
    max_batch: int,
    *,
    body_may_hold_booleans: bool = True,
) -> npt.NDArray[np.float32]:
    """A (n, n_features) float32 array from `{"instances": [...]}`, else an APIError (400/413).

    `body_may_hold_booleans` is False when the raw body has no `true`/`false` token anywhere:
    only then may numpy's conversion (which would turn booleans into 0/1) be trusted.
    """
    batch = _batch(doc, max_batch)
    if not body_may_hold_booleans:
        rows = _fast(batch, n_features)
        if rows is not None:
            return rows
    return _careful(batch, n_features)


JSON_MEDIA = "application/json"
NPY_MEDIA = "application/x-npy"
PACKED_MEDIA = "application/octet-stream"
PACKED_DTYPE = np.dtype("<f4")
NPY_MAGIC = b"\x93NUMPY"
NPY_MAX_HEADER = 4096
# The header `np.save` writes for a C-ordered little-endian float32 array of 1 or 2 dimensions.
_NPY_HEADER = re.compile(
    rb"\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+),(?: (\d+))?\), \} *\n"
)


def is_json(mimetype: str) -> bool:
    return mimetype == JSON_MEDIA or mimetype.endswith("+json")


def _npy_preamble(body: bytes) -> tuple[int, int]:
    """(format major version, offset of the data) from an `.npy` body's first bytes."""
    if not body.startswith(NPY_MAGIC) or len(body) < 10:
        raise APIError("the body is not an .npy file (no \\x93NUMPY magic)", code="invalid_npy")
    major = body[6]
    width = 2 if major == 1 else 4 if major == 2 else 0
    if not width or body[7] != 0:
        raise APIError(f"unsupported .npy format version {major}.{body[7]}", code="invalid_npy")
    size = int.from_bytes(body[8 : 8 + width], "little")
    offset = 8 + width + size
    if size > NPY_MAX_HEADER or offset > len(body):
        raise APIError("the .npy header is too long or cut short", code="invalid_npy")
    return major, offset


def _read_npy_header(body: bytes, major: int, offset: int) -> tuple[int, ...]:
    """The shape the header of `body` (ending at `offset`) announces; APIError unless it holds
    float32 `<f4`, C order. The header is matched as `np.save` writes it; any other spelling
    goes through numpy's own header reader (a literal parse, never pickle)."""
    match = _NPY_HEADER.fullmatch(body, 10 if major == 1 else 12, offset)
    if match is not None:
        first, second = match.groups()
        return (int(first),) if second is None else (int(first), int(second))
    header = np.lib.format
    read = header.read_array_header_1_0 if major == 1 else header.read_array_header_2_0
    try:
        stream = io.BytesIO(body)
        stream.seek(8)
        shape, fortran, dtype = read(stream, max_header_size=NPY_MAX_HEADER)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise APIError(f"the .npy header is not valid: {exc}", code="invalid_npy") from None
    if dtype != PACKED_DTYPE or (fortran and len(shape) > 1):
        raise APIError(
            f"the .npy array must be little-endian float32 ('<f4') in C order, got {dtype.str}"
            + (" in Fortran order" if fortran else ""),
            code="invalid_npy",
        )
    return tuple(shape)


# Shapes of the `.npy` headers accepted lately, keyed by the header's exact bytes (magic to the
# end of its padding): a client sends the same few headers again and again, and a hit costs one
# dict lookup instead of a parse. Only accepted headers are kept; the whole cache is dropped
# when it is full (no eviction bookkeeping on the hot path, and a flood of distinct headers
# costs what it cost without a cache).
NPY_HEADER_CACHE_SIZE = 64
_npy_headers: dict[bytes, tuple[int, ...]] = {}


def _npy_shape(body: bytes) -> tuple[int, tuple[int, ...]]:
    """(offset of the data, shape) from an `.npy` body; APIError unless it holds float32 `<f4`,
    C order, 1 or 2 dimensions (the rank is checked by the caller)."""
    major, offset = _npy_preamble(body)
    header = body[:offset]
    shape = _npy_headers.get(header)
    if shape is None:
        shape = _read_npy_header(body, major, offset)
        if len(_npy_headers) >= NPY_HEADER_CACHE_SIZE:
            _npy_headers.clear()
        _npy_headers[header] = shape
    return offset, shape


def parse_packed(
    body: bytes, mimetype: str, n_features: int, max_batch: int
) -> npt.NDArray[np.float32]:
    """A (n, n_features) float32 batch from a packed body, else an APIError (400/413).

    `application/x-npy`: an `.npy` file of a float32 `<f4` array shaped (n, n_features) or
    (n_features,). `application/octet-stream`: raw little-endian float32 values, row after row;
    the row count is the body's length / (4 * n_features). Every value must be finite.
    """
    if mimetype == NPY_MEDIA:
        offset, shape = _npy_shape(body)
        if len(shape) not in (1, 2) or shape[-1] != n_features:
            raise APIError(
                f"the .npy array must be shaped (rows, {n_features}) or ({n_features},), "
                f"got {shape}",
                code="invalid_npy",
            )
        rows = shape[0] if len(shape) == 2 else 1
        expected = offset + rows * n_features * PACKED_DTYPE.itemsize
        if len(body) != expected:
            raise APIError(
                f"the .npy data is {len(body) - offset} bytes, its header announces "
                f"{expected - offset}",
                code="invalid_npy",
            )
    else:
        offset, width = 0, n_features * PACKED_DTYPE.itemsize
        rows, extra = divmod(len(body), width)
        if extra:
            raise APIError(
                f"a packed body is rows of {n_features} float32 values ({width} bytes each); "
                f"{len(body)} bytes is not a whole number of rows",
                code="invalid_packed",
            )
    if rows == 0:
        raise APIError("the body holds no rows: send at least one")
    if rows > max_batch:
        raise APIError(
            f"batch of {rows} rows exceeds the limit of {max_batch}",
            status_code=413,
            code="batch_too_large",
        )
    # A read-only view of the body's bytes (their length is checked above), made in one call.
    array: npt.NDArray[np.float32] = np.ndarray((rows, n_features), PACKED_DTYPE, body, offset)
    finite = np.isfinite(array)
    if not _all(finite, axis=None):
        bad = np.argwhere(~finite)
        raise APIError(
            f"{len(bad)} invalid value(s) in the body"
            + (f" (showing the first {MAX_REPORTED})" if len(bad) > MAX_REPORTED else ""),
            code="invalid_input",
            details=[
                {
                    "instance": int(i),
                    "feature": int(j),
                    "message": f"{float(array[i, j])!r} is outside the finite float32 range",
                }
                for i, j in bad[:MAX_REPORTED]
            ],
        )
    return array


def check_outputs(probabilities: npt.NDArray[np.float32]) -> None:
    """Refuse (422) rows whose probabilities are not finite: inputs far outside the model's range
    (e.g. 1e38) overflow inside the model, and NaN is no answer to give."""
    if _all(np.isfinite(probabilities), axis=None):
        return
    bad = np.flatnonzero(~np.isfinite(probabilities).all(axis=1))
    if bad.size:
        raise APIError(
            f"the model cannot score {bad.size} instance(s): their values are too far outside "
            "the range it was trained on",
            status_code=422,
            code="unscorable_input",
            details=[
                {"instance": int(i), "message": "the model's output is not finite"}
                for i in bad[:MAX_REPORTED]
            ],
        )
