"""`app.fastpath` answers POST /predict and /score exactly as the Flask views do.

One corpus of good and bad requests goes through two apps built alike: one through the fast path
(`app.wsgi_app`, what granian calls), one straight through Flask (`app.wsgi_app.flask`). Status,
headers, body, the request's log line and, at the end, every request-dependent metric must be
the same; the corpus includes issue 16's hardening cases (body limits, nesting depth, the
`{}`-rows memory bound, unsized and short bodies). granian's own 400/431 answers happen before
any WSGI code and are covered by tests/app/test_server.py against this same app.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from flask import Flask
from werkzeug.test import Client

from tests.app.conftest import DATA, npy
from tests.app.test_predict import worst_case_bodies

ROW = [0.0] * 64
JSON = "application/json"
NPY = "application/x-npy"
PACKED = "application/octet-stream"


@dataclass
class Case:
    name: str
    body: bytes = b""
    path: str = "/predict"
    method: str = "POST"
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, Any] = field(default_factory=dict)
    fast: bool = True  # answered by the fast path (False: handed to Flask)


def _json(name: str, payload: Any, path: str = "/predict", **kwargs: Any) -> Case:
    return Case(name, json.dumps(payload).encode(), path, **kwargs)


def _corpus() -> list[Case]:
    png = base64.b64encode((DATA / "digit-7.png").read_bytes()).decode()
    digits = np.arange(64, dtype=np.float32).reshape(1, 64) % 16
    cases = [
        _json("one row", {"instances": [ROW]}),
        _json("flat row", {"instances": ROW}),
        _json("batch", {"instances": [ROW, [16] * 64, list(range(64))]}),
        _json("ints", {"instances": [[1] * 64]}),
        _json("charset", {"instances": [ROW]}, content_type="application/json; charset=utf-8"),
        _json("+json", {"instances": [ROW]}, content_type="application/vnd.rows+json"),
        _json("upper case type", {"instances": [ROW]}, content_type="Application/JSON"),
        _json("63 features", {"instances": [[1.0] * 63]}),
        _json("string", {"instances": [[*ROW[:-1], "7"]]}),
        _json("boolean", {"instances": [[*ROW[:-1], True]]}),
        _json("null", {"instances": [[*ROW[:-1], None]]}),
        _json("too big for float32", {"instances": [[*ROW[:-1], 1e39]]}),
        _json("float32 max", {"instances": [[*ROW[:-1], 3.4028234663852886e38]]}),
        _json("unscorable", {"instances": [ROW, [3.0e38, -3.0e38] * 32]}),
        _json("empty", {"instances": []}),
        _json("not a list", {"instances": {"a": 1}}),
        _json("unknown field", {"rows": [ROW]}),
        _json("no instances", {}),
        _json("array body", [ROW]),
        _json("batch too large", {"instances": [ROW] * 1025}),
        _json("many bad values", {"instances": [["x"] * 64] * 3}),
        Case("NaN", b'{"instances": [[NaN' + b", 0" * 63 + b"]]}"),
        Case("1e400", b'{"instances": [[1e400' + b", 0" * 63 + b"]]}"),
        Case("cut JSON", b'{"instances": [[1, 2,'),
        Case("empty body, no Content-Length", b"", fast=False),
        Case("empty body, Content-Length 0", b"", environ={"CONTENT_LENGTH": "0"}),
        Case("not UTF-8", b"\xff\xfe"),
        Case("nested 1,000", b'{"instances": ' + b"[" * 1000 + b"]" * 1000 + b"}"),
        Case("nested 100,000", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        Case("text/plain", b'{"instances": []}', content_type="text/plain", fast=False),
        Case("no content type", b'{"instances": []}', content_type=None, fast=False),
        Case("over the size limit", b" " * (4 * 1024 * 1024 + 1), fast=False),
        Case(
            "unsized (chunked)",
            json.dumps({"instances": [ROW]}).encode(),
            headers={"Transfer-Encoding": "chunked"},
            environ={"wsgi.input_terminated": True},
            fast=False,
        ),
        Case(
            "shorter than its Content-Length",
            json.dumps({"instances": [ROW]}).encode(),
            environ={"CONTENT_LENGTH": "100000"},
            fast=False,
        ),
        Case("GET", method="GET", content_type=None, fast=False),
        Case("PUT", b"{}", method="PUT", fast=False),
        Case("trailing slash", b"{}", path="/predict/", fast=False),
        Case("clean request id", b'{"instances": []}', headers={"X-Request-ID": "abc-1.2:3"}),
        Case("npy batch", npy(np.vstack([digits] * 3)), content_type="application/x-npy"),
        Case("npy row", npy(digits[0]), content_type="application/x-npy"),
        Case("npy float64", npy(digits.astype("<f8")), content_type="application/x-npy"),
        Case("npy big-endian", npy(digits.astype(">f4")), content_type="application/x-npy"),
        Case("npy 3-D", npy(digits.reshape(1, 1, 64)), content_type="application/x-npy"),
        Case("npy NaN", npy(np.full((2, 64), np.nan, "<f4")), content_type="application/x-npy"),
        Case("npy cut", npy(digits)[:-4], content_type="application/x-npy"),
        Case("npy no magic", b"not an npy file at all", content_type="application/x-npy"),
        Case(
            "octet-stream", digits.astype("<f4").tobytes(), content_type="application/octet-stream"
        ),
        Case("octet-stream ragged", b"\0" * 100, content_type="application/octet-stream"),
        Case(
            "octet-stream empty",
            content_type="application/octet-stream",
            environ={"CONTENT_LENGTH": "0"},
        ),
        Case(
            "npy to /score",
            npy(digits),
            path="/score",
            content_type="application/x-npy",
            fast=False,
        ),
        _json("score", {"input": [png]}, path="/score"),
        _json("score string form", {"input": json.dumps([png])}, path="/score"),
        _json("score not base64", {"input": ["%%%"]}, path="/score"),
        _json(
            "score not an image", {"input": [base64.b64encode(b"hello").decode()]}, path="/score"
        ),
        _json("score empty", {"input": []}, path="/score"),
        _json("score, 100 small values", {"input": [1] * 100}, path="/score"),
        _json("score too many", {"input": [png] * 17}, path="/score"),
        _json("score nested string", {"input": "[" * 100_000 + "]" * 100_000}, path="/score"),
        Case("score GET", path="/score", method="GET", content_type=None, fast=False),
    ]
    # The .npy answer (app/npy_answer.py): the fast path's cheap Accept decisions against
    # Werkzeug's `request.accept_mimetypes`, byte for byte, and errors JSON whatever Accept says.
    npy_batch = npy(np.vstack([digits] * 3))
    for accept in [
        NPY,
        "*/*",
        JSON,
        "",
        "application/x-npy;q=0",
        "application/x-npy;q=0, */*",
        "application/x-npy, application/json",
        "application/x-npy, application/json;q=0.9",
        "application/json;q=0.1, application/x-npy;q=0.2",
        "application/*, application/x-npy",
        "text/html",
        "Application/X-NPY",
        "application/x-npy;q=nan",
        "application/x-npy;;;q=1,,,",
        "a/b;q=0.5, " * 2000 + NPY,
    ]:
        headers = {"Accept": accept}
        cases.append(
            Case(f"npy in, Accept {accept[:60]!r}", npy_batch, content_type=NPY, headers=headers)
        )
        cases.append(
            _json(f"JSON in, Accept {accept[:60]!r}", {"instances": [ROW]}, headers=headers)
        )
    out = {"Accept": NPY}
    cases += [
        Case(
            "octet-stream in, npy out",
            digits.astype("<f4").tobytes(),
            content_type=PACKED,
            headers=out,
        ),
        Case("npy row, npy out", npy(digits[0]), content_type=NPY, headers=out),
        Case(
            "npy NaN, npy out", npy(np.full((2, 64), np.nan, "<f4")), content_type=NPY, headers=out
        ),
        Case(
            "npy 1025 rows, npy out",
            npy(np.zeros((1025, 64), "<f4")),
            content_type=NPY,
            headers=out,
        ),
        _json("unscorable, npy out", {"instances": [[3.0e38, -3.0e38] * 32]}, headers=out),
        _json("empty, npy out", {"instances": []}, headers=out),
        Case("text/plain, npy out", b"{}", content_type="text/plain", headers=out, fast=False),
        Case(
            "chunked, npy out",
            npy(digits),
            content_type=NPY,
            headers={**out, "Transfer-Encoding": "chunked"},
            environ={"wsgi.input_terminated": True},
            fast=False,
        ),
        Case("GET, npy out", method="GET", content_type=None, headers=out, fast=False),
        _json("score, npy out", {"input": [png]}, path="/score", headers=out),
        _json("score empty, npy out", {"input": []}, path="/score", headers=out),
    ]
    for shape, body in worst_case_bodies(64 * 1024).items():
        cases.append(Case(f"too many values: {shape}", body))
        cases.append(
            Case(f"score too many values: {shape}", body.replace(b"instances", b"input"), "/score")
        )
    return cases


CORPUS = _corpus()


def _exchange(client: Client, case: Case, request_id: str) -> tuple[int, list[Any], Any]:
    response = client.open(
        case.path,
        method=case.method,
        data=case.body,
        content_type=case.content_type,
        headers={"X-Request-ID": request_id, **case.headers},
        environ_overrides=case.environ,
    )
    body = response.get_data()
    payload = json.loads(body) if response.mimetype == JSON else body
    headers: list[tuple[str, str]] = list(response.headers.items())
    if case.path == "/score" and isinstance(payload, dict) and "time" in payload:
        del payload["time"]  # the compute time (and with it the length) differs on every run
        headers = [(k, v) for k, v in headers if k != "Content-Length"]
    return response.status_code, headers, payload


def _log_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    for line in lines:
        line.pop("ts")
        line.pop("duration_ms", None)
        line.pop("exception", None)  # the same error; its trace passes through other frames
    return lines


def _counting(app: Flask) -> list[str]:
    """Record each request the fast path hands on to Flask."""
    fast = app.wsgi_app
    flask = fast.flask  # type: ignore[attr-defined]
    passed: list[str] = []

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        passed.append(environ["PATH_INFO"])
        return flask(environ, start_response)

    fast.flask = counted  # type: ignore[attr-defined]
    return passed


def _request_metrics(client: Client) -> list[str]:
    text = client.get("/metrics").get_data(as_text=True)
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(("http_requests_total", "model_predicted_rows_total"))
        or "_duration_seconds_count" in line
    )


def test_fast_path_and_flask_give_the_same_answers_logs_and_metrics(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    fast_app, flask_app = make_app(), make_app()
    passed = _counting(fast_app)
    fast = Client(fast_app.wsgi_app)
    flask = Client(flask_app.wsgi_app.flask)  # type: ignore[attr-defined]
    capfd.readouterr()
    for number, case in enumerate(CORPUS):
        request_id = f"case-{number}"
        before = len(passed)
        via_fast = _exchange(fast, case, request_id)
        fast_logs = _log_lines(capfd)
        via_flask = _exchange(flask, case, request_id)
        flask_logs = _log_lines(capfd)
        assert via_fast == via_flask, case.name
        assert fast_logs == flask_logs, case.name
        assert any(line["message"] == "request" for line in fast_logs), case.name
        assert (len(passed) == before) is case.fast, case.name
    assert _request_metrics(fast) == _request_metrics(flask)
    assert 'model_predicted_rows_total{route="/score"} 3.0' in _request_metrics(fast)


@pytest.mark.parametrize("incoming", [None, "a b<c>", "x" * 129, "ok\u00e9"])
def test_both_paths_make_up_a_new_request_id_for_a_missing_or_unclean_one(
    app: Flask, incoming: str | None, capfd: pytest.CaptureFixture[str]
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    for client in (Client(app.wsgi_app), Client(app.wsgi_app.flask)):  # type: ignore[attr-defined]
        capfd.readouterr()
        response = client.post("/predict", json={"instances": []}, headers=headers)
        generated = response.headers["X-Request-ID"]
        assert len(generated) == 32
        assert generated != incoming
        assert response.get_json()["request_id"] == generated
        (line,) = _log_lines(capfd)
        assert line["request_id"] == generated


def test_an_unexpected_error_is_the_same_json_500_on_both_paths(app: Flask) -> None:
    import logging

    model = app.extensions["model"]

    class Broken(type(model)):  # type: ignore[misc]
        def predict(self, rows: Any) -> Any:
            raise RuntimeError("secret internals")

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    records: list[logging.LogRecord] = []
    handler = Records()
    logging.getLogger("app").addHandler(handler)
    app.extensions["model"] = Broken(model._session, model.info)
    answers = []
    try:
        for client in (Client(app.wsgi_app), Client(app.wsgi_app.flask)):  # type: ignore[attr-defined]
            records.clear()
            response = client.post(
                "/predict", json={"instances": [ROW]}, headers={"X-Request-ID": "r"}
            )
            assert "secret" not in response.get_data(as_text=True)
            (record,) = records
            assert record.getMessage() == "unhandled error"
            assert record.exc_info is not None
            assert str(record.exc_info[1]) == "secret internals"  # for operators only
            answers.append((response.status_code, response.get_json()))
    finally:
        logging.getLogger("app").removeHandler(handler)
    assert answers[0] == answers[1]
    assert answers[0][0] == 500


def test_a_short_body_with_too_many_values_is_refused_before_it_is_parsed(app: Flask) -> None:
    """Under 4 KiB the commas are counted with bytes.count, above with numpy: same bound."""
    client = Client(app.wsgi_app)
    for count in (100, 3000):
        response = client.post("/score", json={"input": [1] * count})
        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == "too_many_values"
    within = client.post("/score", json={"input": [1] * 40})  # under the bound: parsed
    assert within.get_json()["error"]["code"] == "too_many_images"


def test_an_answer_that_fails_to_encode_is_the_same_500_without_rows_on_both_paths(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from app import npy_answer

    def broken(*_args: Any) -> bytes:
        raise RuntimeError("cannot encode")

    monkeypatch.setattr(npy_answer, "encode", broken)
    fast_app, flask_app = make_app(), make_app()
    answers = []
    for client in (Client(fast_app.wsgi_app), Client(flask_app.wsgi_app.flask)):  # type: ignore[attr-defined]
        capfd.readouterr()
        response = client.post(
            "/predict",
            json={"instances": [ROW]},
            headers={"Accept": NPY, "X-Request-ID": "enc"},
        )
        (line,) = [entry for entry in _log_lines(capfd) if entry["message"] == "request"]
        answers.append((response.status_code, response.get_json(), line))
        assert 'model_predicted_rows_total{route="/predict"}' not in "".join(
            _request_metrics(client)
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == 500
    assert answers[0][2]["rows"] is None
