"""Schemathesis against /openapi.json: generated valid and invalid requests never get a 5xx,
and every answer matches the documented status codes, content types and schemas.

The operations and their Hypothesis strategies come from the served OpenAPI document; each case
is sent to the real app through WSGI (schemathesis' pytest plugin is not used: it does not run
on this pytest version, so the strategies are driven with `hypothesis.given` directly).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

OPERATIONS = [
    ("POST", "/predict"),
    ("POST", "/score"),
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/version"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
]


# Operations without a request body or parameters have no invalid input to generate.
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_answers_generated_requests_as_documented_and_never_with_5xx(
    app: Flask, method: str, path: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]
    examples = 100 if method == "POST" else 5

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call()
        assert response.status_code < 500, (case.body, response.text)
        # Every default check, with two replaced: "schema-valid data is accepted" (/predict
        # answers 422 when finite float32 inputs such as 1e38 overflow inside the model, a
        # semantic refusal the schema cannot express; tested in test_predict.py), and
        # "schema-violating data is rejected", whose status list leaves out 413, the answer the
        # service gives to too many rows or images; any 4xx is a rejection here.
        case.validate_response(
            response,
            excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
        )
        if mode is GenerationMode.NEGATIVE:
            assert 400 <= response.status_code < 500, (case.body, response.text)

    check()


def test_the_document_is_valid_openapi_3_1(app: Flask) -> None:
    """Against the OpenAPI 3.1 meta-schema (schemathesis bundles the official one)."""
    schemathesis.openapi.from_wsgi("/openapi.json", app).validate()


@pytest.mark.parametrize(
    ("body", "media"),
    [
        ({"instances": [[0.0] * 64] * 3}, "application/json"),
        (b"\0" * 3 * 64 * 4, "application/octet-stream"),
    ],
)
def test_the_npy_answer_is_as_documented(app: Flask, body: Any, media: str) -> None:
    """`Accept: application/x-npy`: the documented 200 media type and response headers."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    case = schema["/predict"]["POST"].Case(
        body=body, media_type=media, headers={"Accept": "application/x-npy"}
    )
    response = case.call()
    assert response.status_code == 200
    assert response.headers["content-type"] == ["application/x-npy"]
    assert response.headers["x-model-version"] == ["3"]
    case.validate_response(response)
