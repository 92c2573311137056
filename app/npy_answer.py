"""The packed answer of `POST /predict`: an `.npy` file instead of JSON, for clients that ask.

A request whose `Accept` prefers `application/x-npy` to `application/json` (Werkzeug's
`MIMEAccept.best_match` decides, as `request.accept_mimetypes` would) gets one `.npy` file
(version 1.0, byte for byte what `numpy.save` writes) of a structured array shaped (rows,) with
fields `label` (`<i8`) and `probabilities` (`<f4`, shape (n_classes,)); the model's name and
version go in the `X-Model-Name` and `X-Model-Version` headers. Anything else (no `Accept`,
`*/*`, neither type acceptable) is JSON as before, and errors are JSON whatever `Accept` says.

The fast path (app/fastpath.py) asks `wants_npy`, which answers the common headers from a
table and the rest with Werkzeug's parser (a small cache, bounded in entries and key length);
the Flask view asks `request.accept_mimetypes` itself, and tests/app/test_fastpath.py holds the
two to the same decisions.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib import format as npy_format
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from app.validation import JSON_MEDIA, NPY_MEDIA

# The answers on offer, the server's preference first: a tie (`*/*`, or both at the same
# quality and specificity) goes to JSON, as Werkzeug's `best_match` gives it.
OFFERED = (JSON_MEDIA, NPY_MEDIA)
MODEL_NAME_HEADER = "X-Model-Name"
MODEL_VERSION_HEADER = "X-Model-Version"

# --- Accept -------------------------------------------------------------------------------------

# What clients send: no header, curl's and requests' `*/*`, or one of the two types exactly.
_COMMON = {"*/*": False, JSON_MEDIA: False, NPY_MEDIA: True}
ACCEPT_CACHE_SIZE = 64
ACCEPT_CACHE_KEY_MAX = 256  # longer values are parsed every time (and never kept)
_accepts: dict[str, bool] = dict(_COMMON)


def negotiate(accept: str | None) -> bool:
    """Werkzeug's decision, uncached: does `accept` prefer the `.npy` answer to JSON?"""
    return parse_accept_header(accept, MIMEAccept).best_match(OFFERED) == NPY_MEDIA


def wants_npy(accept: str | None) -> bool:
    """`negotiate(accept)`, cheaply: a table of the common values, a bounded cache of others.

    Werkzeug parses a typical two-type `Accept` in ~20 us, a 7 KB one in ~5 ms; a client that
    sends ever-new values only ever fills `ACCEPT_CACHE_SIZE` short entries (the cache then starts
    again from the common ones).
    """
    if not accept:
        return False
    decided = _accepts.get(accept)
    if decided is None:
        decided = negotiate(accept)
        if len(accept) <= ACCEPT_CACHE_KEY_MAX:
            if len(_accepts) >= ACCEPT_CACHE_SIZE:
                _accepts.clear()
                _accepts.update(_COMMON)
            _accepts[accept] = decided
    return decided


# --- the .npy body ------------------------------------------------------------------------------

HEADER_CACHE_SIZE = 4096  # (rows, n_classes) pairs: rows <= MAX_BATCH, one n_classes per model
_dtypes: dict[int, np.dtype[np.void]] = {}
_headers: dict[tuple[int, int], bytes] = {}


def answer_dtype(n_classes: int) -> np.dtype[np.void]:
    """`[('label', '<i8'), ('probabilities', '<f4', (n_classes,))]`, packed (no padding)."""
    dtype = _dtypes.get(n_classes)
    if dtype is None:
        dtype = np.dtype([("label", "<i8"), ("probabilities", "<f4", (n_classes,))])
        if len(_dtypes) >= 16:  # one n_classes per model
            _dtypes.clear()
        _dtypes[n_classes] = dtype
    return dtype


def _npy_header(rows: int, n_classes: int) -> bytes:
    """The header `numpy.save` writes for the answer's array (made once per shape)."""
    key = (rows, n_classes)
    header = _headers.get(key)
    if header is None:
        template = np.empty((0,), answer_dtype(n_classes))
        fields = {**npy_format.header_data_from_array_1_0(template), "shape": (rows,)}
        out = _Bytes()
        npy_format.write_array_header_1_0(out, fields)
        header = bytes(out.data)
        if len(_headers) >= HEADER_CACHE_SIZE:
            _headers.clear()
        _headers[key] = header
    return header


class _Bytes:
    """The file numpy's header writer writes to (all it calls is `write`)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk


def encode(labels: npt.NDArray[np.int64], probabilities: npt.NDArray[np.float32]) -> bytes:
    """The `.npy` answer for a batch: what `numpy.save` writes for the structured array."""
    rows, n_classes = probabilities.shape
    out = np.empty((rows,), answer_dtype(n_classes))
    out["label"] = labels
    out["probabilities"] = probabilities
    return _npy_header(rows, n_classes) + out.tobytes()


# --- the model headers --------------------------------------------------------------------------

# MODEL_NAME is a model store name (app/config.py: lowercase letters, digits, '-', '_'), so it
# goes into a header as it is; the version is a number.
_model_headers: dict[tuple[str | None, int | None], tuple[tuple[str, str], ...]] = {}


def model_headers(name: str | None, version: int | None) -> tuple[tuple[str, str], ...]:
    """`X-Model-Name` and `X-Model-Version` for the `.npy` answer; each left out when unset
    (JSON's `null`)."""
    key = (name, version)
    headers = _model_headers.get(key)
    if headers is None:
        made = []
        if name is not None:
            made.append((MODEL_NAME_HEADER, name))
        if version is not None:
            made.append((MODEL_VERSION_HEADER, str(version)))
        headers = tuple(made)
        if len(_model_headers) >= 16:
            _model_headers.clear()
        _model_headers[key] = headers
    return headers
