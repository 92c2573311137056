"""Probes, /version, /metrics, /openapi.json, and JSON errors for 404/405/500."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.conftest import sha256_of


def test_root_answers_healthy_like_the_reference(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "Healthy"


def test_healthz_and_readyz_answer_once_the_model_is_loaded(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"


def test_readyz_is_503_without_a_model(app: Flask) -> None:
    del app.extensions["model"]
    response = app.test_client().get("/readyz")
    assert response.status_code == 503


def test_version_reports_the_build_and_the_pinned_model(
    make_app: Any, app_settings: dict[str, Any]
) -> None:
    app = make_app(APP_VERSION="1.4.0", APP_REVISION="abc123", APP_CREATED="2026-01-01T00:00:00Z")
    body = app.test_client().get("/version").get_json()
    assert body["app"] == {
        "version": "1.4.0",
        "revision": "abc123",
        "created": "2026-01-01T00:00:00Z",
    }
    assert body["model"]["name"] == "digits"
    assert body["model"]["version"] == 3
    assert body["model"]["sha256"] == app_settings["MODEL_SHA256"]
    assert body["model"]["signature"] == "input:float32[?,64]"
    assert body["model"]["labels"] == list(range(10))


def test_metrics_count_requests_by_route_and_status(client: FlaskClient) -> None:
    client.post("/predict", json={"instances": [[0] * 64]})
    client.post("/predict", json={"instances": [[0] * 63]})
    client.get("/nowhere")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/predict",status="400"} 1.0' in text
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/predict"} 2.0' in text
    assert 'model_predicted_rows_total{route="/predict"} 1.0' in text
    assert 'model_info{name="digits",sha256="' in text
    assert "model_load_seconds " in text


def test_metrics_fold_unknown_methods_into_one_label(client: FlaskClient) -> None:
    """Clients choose the method token: it must not mint a new time series per value."""
    for index in range(300):
        assert client.open("/healthz", method=f"X{index}").status_code == 405
        client.open("/nowhere", method=f"Y{index}")
    client.delete("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    series = [line for line in text.splitlines() if line.startswith("http_requests_total{")]
    assert len(series) <= 5, series
    methods = {line.split('method="')[1].split('"')[0] for line in series}
    assert methods == {"other", "DELETE"}
    assert 'http_requests_total{method="other",route="unmatched",status="405"} 300.0' in text
    assert 'http_requests_total{method="other",route="unmatched",status="404"} 300.0' in text


def test_each_app_has_its_own_metrics(make_app: Any) -> None:
    first, second = make_app(), make_app()
    first.test_client().get("/healthz")
    text = second.test_client().get("/metrics").get_data(as_text=True)
    assert 'route="/healthz"' not in text


def test_responses_carry_a_request_id_and_echo_a_clean_one(client: FlaskClient) -> None:
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
    assert echoed == "abc-123"
    dirty = client.get("/healthz", headers={"X-Request-ID": "a b<c>"}).headers["X-Request-ID"]
    assert dirty != "a b<c>"


def test_unknown_route_and_wrong_method_are_json(client: FlaskClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = client.get("/predict")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_an_unexpected_error_is_a_json_500_without_a_trace(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", boom)
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == {"status": 500, "code": "internal_error", "message": "internal error"}
    assert "secret" not in response.get_data(as_text=True)


def test_openapi_document_describes_the_routes_and_real_responses(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/predict", "/score", "/", "/healthz", "/readyz", "/version", "/metrics"} <= set(
        doc["paths"]
    )
    schemas = doc["components"]["schemas"]
    row = schemas["PredictRequest"]["properties"]["instances"]["oneOf"][1]
    assert row["minItems"] == row["maxItems"] == 64

    def check(instance: Any, name: str) -> None:
        schema = {**schemas[name], "components": {"schemas": schemas}}
        resolver_schema = jsonschema.Draft202012Validator(schema, registry=_registry(schemas))
        resolver_schema.validate(instance)

    check({"instances": [[0] * 64]}, "PredictRequest")
    check(client.post("/predict", json={"instances": [[0] * 64]}).get_json(), "PredictResponse")
    check(client.post("/predict", json={"instances": []}).get_json(), "Error")
    # The .npy answer: a second 200 media type, and its headers; errors stay JSON.
    ok = doc["paths"]["/predict"]["post"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "application/x-npy"}
    assert set(ok["headers"]) == {"X-Model-Name", "X-Model-Version"}
    assert (
        "('probabilities', '<f4', (10,))"
        in ok["content"]["application/x-npy"]["schema"]["description"]
    )
    npy = {"Accept": "application/x-npy"}
    answer = client.post("/predict", json={"instances": [[0] * 64]}, headers=npy)
    assert answer.mimetype in ok["content"]
    assert set(ok["headers"]) <= set(answer.headers.keys())
    check(client.post("/predict", json={"instances": []}, headers=npy).get_json(), "Error")


def _registry(schemas: dict[str, Any]) -> Any:
    from referencing import Registry, Resource

    root = Resource.from_contents(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": {"schemas": schemas},
        }
    )
    return Registry().with_resource("", root)


def test_model_file_sha_is_the_pinned_one(
    app_settings: dict[str, Any], client: FlaskClient
) -> None:
    from pathlib import Path

    assert (
        sha256_of(Path(app_settings["MODEL_DIR"]) / "model.onnx")
        == client.get("/readyz").get_json()["model_sha256"]
    )


def test_each_request_is_logged_as_one_json_line_with_its_id(
    client: FlaskClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    client.post("/predict", json={"instances": [[0] * 64] * 3}, headers={"X-Request-ID": "r-1"})
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    (entry,) = [e for e in lines if e["message"] == "request"]
    assert entry["request_id"] == "r-1"
    assert entry["route"] == "/predict"
    assert entry["status"] == 200
    assert entry["rows"] == 3
    assert entry["duration_ms"] > 0


@pytest.mark.parametrize("body", [{"input": [""]}, {"input": ""}])
def test_openapi_document_refuses_the_empty_image_the_service_refuses(
    client: FlaskClient, body: dict[str, Any]
) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    schema = {**schemas["ScoreRequest"], "components": {"schemas": schemas}}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry(schemas))
    assert not validator.is_valid(body)
    assert client.post("/score", json=body).status_code == 400
