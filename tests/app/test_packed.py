"""POST /predict with packed float32 rows (`application/x-npy`, `application/octet-stream`):
the same answers as JSON, and every malformed body a 4xx that says what is wrong."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.conftest import npy

NPY = "application/x-npy"
PACKED = "application/octet-stream"


def npy_with_header(header: bytes, data: bytes, version: int = 1) -> bytes:
    """An .npy file written by hand: another writer's spelling of the header."""
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    width = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(width, len(header)) + header + data


def _error(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert error["status"] == response.status_code
    return error


def test_packed_rows_get_the_answers_json_rows_get(client: FlaskClient, digits_data: Any) -> None:
    data, target = digits_data
    rows = data[:64].astype("<f4")
    want = client.post("/predict", json={"instances": rows.tolist()}).get_json()
    assert want["predictions"][:5] == target[:5].tolist()
    for body, media in [
        (npy(rows), NPY),
        (rows.tobytes(), PACKED),
        (
            npy_with_header(
                b"{'shape': (64, 64), 'fortran_order': False, 'descr': '<f4'}", rows.tobytes()
            ),
            NPY,
        ),
        (
            npy_with_header(
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64), }", rows.tobytes(), 2
            ),
            NPY,
        ),
    ]:
        response = client.post("/predict", data=body, content_type=media)
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == want


def test_one_packed_row_without_a_batch_dimension(client: FlaskClient, digits_data: Any) -> None:
    data, target = digits_data
    row = data[173].astype("<f4")
    for body, media in [(npy(row), NPY), (row.tobytes(), PACKED)]:
        response = client.post("/predict", data=body, content_type=media)
        assert response.get_json()["predictions"] == [int(target[173])]


ZEROS = np.zeros((2, 64), "<f4")


@pytest.mark.parametrize(
    ("body", "media", "status", "message_part"),
    [
        (npy(ZEROS.astype("<f8")), NPY, 400, "got <f8"),
        (npy(ZEROS.astype(">f4")), NPY, 400, "got >f4"),
        (npy(ZEROS.astype("<i4")), NPY, 400, "got <i4"),
        (npy(np.asfortranarray(np.zeros((2, 64), "<f4"))), NPY, 400, "Fortran order"),
        (npy(np.zeros((1, 2, 64), "<f4")), NPY, 400, "shaped (rows, 64)"),
        (npy(np.zeros((2, 63), "<f4")), NPY, 400, "shaped (rows, 64)"),
        (npy(np.zeros((0, 64), "<f4")), NPY, 400, "no rows"),
        (npy(ZEROS)[:-1], NPY, 400, "its header announces"),
        (npy(ZEROS) + b"\0\0\0\0", NPY, 400, "its header announces"),
        (npy(ZEROS)[:9], NPY, 400, "not an .npy file"),
        (b"PK\x03\x04 a zip file", NPY, 400, "not an .npy file"),
        (b"\x93NUMPY\x03\x00" + npy(ZEROS)[8:], NPY, 400, "version 3.0"),
        (b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100, NPY, 400, "too long or cut short"),
        (npy_with_header(b"{'descr': '<f4', 'shape': (1, 64)}", b"\0" * 256), NPY, 400, "header"),
        (npy_with_header(b"__import__('os')", b""), NPY, 400, "header is not valid"),
        (npy(np.zeros((1025, 64), "<f4")), NPY, 413, "exceeds the limit of 1024"),
        (b"\0" * 255, PACKED, 400, "not a whole number of rows"),
        (np.zeros((1025, 64), "<f4").tobytes(), PACKED, 413, "exceeds the limit of 1024"),
    ],
)
def test_malformed_packed_bodies_are_refused_with_a_clear_message(
    client: FlaskClient, body: bytes, media: str, status: int, message_part: str
) -> None:
    response = client.post("/predict", data=body, content_type=media)
    assert response.status_code == status
    assert message_part in _error(response)["message"]


def test_non_finite_packed_values_are_reported_by_position(client: FlaskClient) -> None:
    rows = np.zeros((3, 64), "<f4")
    rows[0, 5], rows[2, 63] = np.nan, -np.inf
    for body, media in [(npy(rows), NPY), (rows.tobytes(), PACKED)]:
        error = _error(client.post("/predict", data=body, content_type=media))
        assert error["message"] == "2 invalid value(s) in the body"
        assert error["details"] == [
            {"instance": 0, "feature": 5, "message": "nan is outside the finite float32 range"},
            {"instance": 2, "feature": 63, "message": "-inf is outside the finite float32 range"},
        ]


def test_packed_rows_count_in_the_metrics_like_json_rows(client: FlaskClient) -> None:
    client.post("/predict", data=npy(np.zeros((5, 64), "<f4")), content_type=NPY)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'model_predicted_rows_total{route="/predict"} 5.0' in text


def test_score_takes_json_only(make_app: Callable[..., Flask]) -> None:
    response = make_app().test_client().post("/score", data=npy(ZEROS), content_type=NPY)
    assert response.status_code == 415
    assert (
        _error(response)["message"]
        == "expected Content-Type application/json, got application/x-npy"
    )


def test_the_openapi_document_describes_the_packed_forms(client: FlaskClient) -> None:
    operation = client.get("/openapi.json").get_json()["paths"]["/predict"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", NPY, PACKED}
    assert "float32" in operation["description"]
    assert "(rows, 64)" in operation["description"]


# --- the header cache behind parse_packed: the same answers as parsing every header --------


def test_npy_headers_are_cached_by_their_exact_bytes_and_the_cache_is_bounded() -> None:
    from app import validation
    from app.errors import APIError

    validation._npy_headers.clear()
    body = npy(np.zeros((3, 64), "<f4"))
    offset = validation._npy_shape(body)[0]
    assert validation._npy_headers == {body[:offset]: (3, 64)}
    assert validation._npy_shape(body) == (offset, (3, 64))
    # a header one byte longer (more padding) is another key, with its own offset
    padded = npy_with_header(
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 64), }" + b" " * 64, b""
    )
    assert len(padded) == offset + 64
    assert validation._npy_shape(padded + body[offset:]) == (len(padded), (3, 64))
    # the same data under another shape's header is not taken for the cached one
    other = npy(np.zeros((4, 48), "<f4"))
    assert validation._npy_shape(other)[1] == (4, 48)
    # a refused header is never cached: the same error every time
    fortran = npy(np.asfortranarray(np.zeros((2, 64), "<f4")))
    for _ in range(2):
        with pytest.raises(APIError, match="Fortran order"):
            validation._npy_shape(fortran)
    assert len(validation._npy_headers) == 3
    # bounded: many distinct headers never hold more than the limit
    for rows in range(1, 3 * validation.NPY_HEADER_CACHE_SIZE):
        assert validation._npy_shape(npy(np.zeros((rows, 64), "<f4")))[1] == (rows, 64)
        assert len(validation._npy_headers) <= validation.NPY_HEADER_CACHE_SIZE


def test_a_cached_header_still_checks_the_body_it_comes_with(client: FlaskClient) -> None:
    body = npy(ZEROS)
    assert client.post("/predict", data=body, content_type=NPY).status_code == 200
    for bad, part in [
        (body[:-4], "its header announces"),
        (body + b"\0" * 4, "its header announces"),
    ]:
        response = client.post("/predict", data=bad, content_type=NPY)
        assert response.status_code == 400
        assert part in _error(response)["message"]
