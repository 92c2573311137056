"""POST /predict: real model, real validation; every bad input is a 4xx that says what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient


def test_predict_classifies_a_batch_of_known_digits(client: FlaskClient, digits_data: Any) -> None:
    data, target = digits_data
    indices = [458, 1170, 173, 0, 1, 2]
    response = client.post("/predict", json={"instances": data[indices].tolist()})
    assert response.status_code == 200
    body = response.get_json()
    assert body["predictions"] == [int(target[i]) for i in indices]
    probabilities = np.array(body["probabilities"])
    assert probabilities.shape == (6, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert body["model"] == {"name": "digits", "version": 3}


def test_predict_accepts_one_row_without_a_batch(client: FlaskClient, digits_data: Any) -> None:
    data, target = digits_data
    response = client.post("/predict", json={"instances": data[173].tolist()})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == [int(target[173])]


def test_predict_accepts_integers_and_floats_alike(client: FlaskClient, digits_data: Any) -> None:
    data, _ = digits_data
    as_ints = [int(v) for v in data[458]]
    as_floats = [float(v) for v in data[458]]
    first = client.post("/predict", json={"instances": [as_ints]}).get_json()
    second = client.post("/predict", json={"instances": [as_floats]}).get_json()
    assert first["predictions"] == second["predictions"] == [0]


def test_fast_and_careful_paths_agree_on_valid_rows(digits_data: Any) -> None:
    from app.validation import parse_instances

    data, _ = digits_data
    rows = data[:5].tolist()
    careful = parse_instances({"instances": rows}, 64, 10, body_may_hold_booleans=True)
    quick = parse_instances({"instances": rows}, 64, 10, body_may_hold_booleans=False)
    assert careful.dtype == quick.dtype == np.float32
    np.testing.assert_array_equal(careful, quick)


def test_booleans_are_refused_even_among_numbers() -> None:
    """numpy would read True as 1; the raw body's `true` token forces the careful path."""
    from app.errors import APIError
    from app.validation import parse_instances

    with pytest.raises(APIError, match="invalid value"):
        parse_instances({"instances": [[1] * 63 + [True]]}, 64, 10, body_may_hold_booleans=True)


ROW = [0.0] * 64


def _error(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert response.mimetype == "application/json"
    assert set(body) >= {"error"}
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    return error


@pytest.mark.parametrize(
    ("payload", "status", "message_part", "detail"),
    [
        ({"instances": [[1.0] * 63]}, 400, "invalid value", "expected 64 features, got 63"),
        ({"instances": [[*ROW[:-1], "7"]]}, 400, "invalid value", "expected a number, got string"),
        (
            {"instances": [[*ROW[:-1], True]]},
            400,
            "invalid value",
            "expected a number, got boolean",
        ),
        ({"instances": [[*ROW[:-1], None]]}, 400, "invalid value", "expected a number, got null"),
        ({"instances": [[*ROW[:-1], [1]]]}, 400, "invalid value", "expected a number, got array"),
        ({"instances": [[*ROW[:-1], {"a": 1}]]}, 400, "invalid value", "got object"),
        ({"instances": [ROW, "junk"]}, 400, "invalid value", "got string"),
        ({"instances": [[*ROW[:-1], 1e39]]}, 400, "invalid value", "outside the finite float32"),
        ({"instances": []}, 400, "empty", None),
        ({"instances": {"a": 1}}, 400, "must be a list", None),
        ({"rows": [ROW]}, 400, "unknown field", None),
        ({}, 400, "'instances' is required", None),
        ([ROW], 400, "JSON object", None),
        ("just a string", 400, "JSON object", None),
        ({"instances": [ROW] * 1025}, 413, "exceeds the limit of 1024", None),
    ],
)
def test_predict_rejects_bad_input_with_a_clear_message(
    client: FlaskClient, payload: Any, status: int, message_part: str, detail: str | None
) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == status
    error = _error(response)
    assert message_part in error["message"]
    if detail is not None:
        assert any(detail in d["message"] for d in error["details"])


def test_predict_reports_each_bad_value_by_position(client: FlaskClient) -> None:
    rows: list[list[Any]] = [list(ROW), list(ROW), list(ROW)]
    rows[0][5] = "x"
    rows[2][63] = False
    response = client.post("/predict", json={"instances": rows})
    details = _error(response)["details"]
    assert [(d["instance"], d.get("feature")) for d in details] == [(0, 5), (2, 63)]


def test_predict_caps_the_number_of_reported_problems(client: FlaskClient) -> None:
    response = client.post("/predict", json={"instances": [["x"] * 64] * 3})
    error = _error(response)
    assert len(error["details"]) == 20
    assert "192 invalid value(s)" in error["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"instances": [[NaN' + b", 0" * 63 + b"]]}",
        b'{"instances": [[Infinity' + b", 0" * 63 + b"]]}",
        b'{"instances": [[1e400' + b", 0" * 63 + b"]]}",
        b'{"instances": [[1, 2,',
        b"",
        b"\xff\xfe",
    ],
)
def test_predict_rejects_what_is_not_strict_json(client: FlaskClient, raw: bytes) -> None:
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_predict_requires_json_content_type(client: FlaskClient, content_type: str | None) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/predict", data=b'{"instances": []}', **kwargs)
    assert response.status_code == 415
    assert "application/json" in _error(response)["message"]


def test_predict_refuses_a_body_over_the_size_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_CONTENT_LENGTH=2048).test_client()
    response = client.post("/predict", json={"instances": [[1.5] * 64] * 20})
    assert response.status_code == 413
    _error(response)


def _post_unsized(client: FlaskClient, body: bytes) -> Any:
    """A chunked body as a WSGI server hands it over: de-chunked, no length, ends at EOF."""
    import io

    return client.post(
        "/predict",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_predict_refuses_an_unsized_body_over_the_limit_instead_of_truncating_it(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(MAX_CONTENT_LENGTH=4096).test_client()
    valid = b'{"instances": [[' + b",".join([b"0"] * 64) + b"]]}"
    small = _post_unsized(client, valid)
    assert small.status_code == 200  # the unsized path really reads a body
    # A valid document padded past the limit: Werkzeug would cut the padding off and answer 200.
    padded = _post_unsized(client, valid + b" " * 8192)
    assert padded.status_code == 413
    assert _error(padded)["status"] == 413
    # A body cut in the middle of the JSON would otherwise be "unexpected end of data": 400.
    assert _post_unsized(client, b'{"instances": [' + b"0," * 5000 + b"0]}").status_code == 413
    # Exactly at the limit is still allowed.
    at_limit = valid + b" " * (4096 - len(valid))
    assert _post_unsized(client, at_limit).status_code == 200


def test_predict_batch_limit_is_configurable(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_BATCH=2).test_client()
    assert client.post("/predict", json={"instances": [ROW] * 2}).status_code == 200
    response = client.post("/predict", json={"instances": [ROW] * 3})
    assert response.status_code == 413
    assert _error(response)["code"] == "batch_too_large"


def test_predict_refuses_rows_the_model_cannot_score(client: FlaskClient) -> None:
    """Finite float32 values far outside the training range overflow inside the model: 422."""
    extreme = [3.0e38, -3.0e38] * 32
    response = client.post("/predict", json={"instances": [ROW, extreme]})
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "unscorable_input"
    assert error["details"] == [{"instance": 1, "message": "the model's output is not finite"}]


MIB = 1024 * 1024


def worst_case_bodies(size: int = 4 * MIB) -> dict[str, bytes]:
    """Bodies just under the 4 MiB limit whose parse would allocate the most Python objects."""

    def fill(head: bytes, item: bytes, tail: bytes) -> bytes:
        count = (size - len(head) - len(tail) + 1) // (len(item) + 1)
        return head + b",".join([item] * count) + tail

    return {
        "empty objects": fill(b'{"instances": [', b"{}", b"]}"),
        "empty rows": fill(b'{"instances": [', b"[]", b"]}"),
        "one long row": fill(b'{"instances": [', b"1.5", b"]}"),
        "strings": fill(b'{"instances": [[', b'"a"', b"]]}"),
    }


@pytest.mark.parametrize("shape", list(worst_case_bodies(64 * 1024)))
def test_predict_refuses_a_body_with_more_values_than_any_batch_before_parsing_it(
    client: FlaskClient, shape: str
) -> None:
    """A 4 MiB body of `{}` parsed into ~1.4M objects before the batch check (issue 16.5):
    the work a body can cause is now bounded by the batch limit, not only by its size."""
    import tracemalloc

    body = worst_case_bodies()[shape]
    assert len(body) <= 4 * MIB
    tracemalloc.start()
    try:
        response = client.post("/predict", data=body, content_type="application/json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert _error(response)["code"] == "too_many_values"
    assert peak < 3 * len(body), f"{peak / MIB:.1f} MiB allocated for a {len(body)} byte body"


def test_a_full_batch_at_the_limits_is_still_served(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_BATCH=1024).test_client()
    response = client.post("/predict", json={"instances": [[16.0] * 64] * 1024})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == 1024
