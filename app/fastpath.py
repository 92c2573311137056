"""A lean WSGI path for the hot routes, `POST /predict` and `POST /score`, in front of Flask.

Flask's request machinery (request and app contexts, URL matching, hooks, the Response object)
costs more per 1-row prediction than parsing, validating and scoring it. This callable answers
the common case itself: a POST to exactly one of the two paths with a Content-Length within
MAX_CONTENT_LENGTH and an accepted media type. It reads the body once, runs the same `answer`
function as the Flask view, answers in JSON or, for `/predict` when `Accept` prefers it, as an
`.npy` file (app/npy_answer.py: the same decision as Werkzeug's, cheaply), and does the same
bookkeeping as `app.hooks` (request id, metrics, one log line) and `app.errors` (the JSON error
shape).

Everything else goes to Flask unchanged: other routes and methods, chunked or unsized bodies,
bodies over the limit (Werkzeug's 413), other media types (the view's 415), and a body that
arrives shorter than its Content-Length (handed to Flask as read, which then fails the same
way). `tests/app/test_fastpath.py` holds the two paths to identical answers, logs and metrics.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from app.api import predict, score
from app.errors import APIError, error_payload, log_unexpected
from app.hooks import REQUEST_ID_HEADER, request_id_for
from app.jsonio import dumps
from app.logging import log_request, request_id_var
from app.metrics import EXTENSION_KEY as METRICS_KEY
from app.metrics import Metrics
from app.model import EXTENSION_KEY as MODEL_KEY
from app.model import Model
from app.npy_answer import wants_npy
from app.validation import NPY_MEDIA

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Werkzeug's status lines (`400 BAD REQUEST`), so both paths send the same bytes.
_STATUS = {code: f"{code} {text.upper()}" for code, text in HTTP_STATUS_CODES.items()}
_REQUEST_ID_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
_JSON_HEADER = ("Content-Type", "application/json")
_NPY_HEADER = ("Content-Type", NPY_MEDIA)


class _Unreadable(io.RawIOBase):
    """The input of a request whose body read failed: Flask's read fails the same way."""

    def readinto(self, _buffer: Any) -> int:
        raise OSError("the request body could not be read")


class FastPath:
    """WSGI middleware: `app.wsgi_app = FastPath(app)`; `.flask` is the wrapped Flask path."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask: WSGIApp = app.wsgi_app
        self._metrics: Metrics = app.extensions[METRICS_KEY]
        self._predict_media = frozenset(predict.PACKED)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO")
        if path == predict.ROUTE:
            accepted = self._predict_media
        elif path == score.ROUTE:
            accepted = frozenset()
        else:
            return self.flask(environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not length
            or not (length.isascii() and length.isdigit())
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return self.flask(environ, start_response)
        size = int(length)
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip(" \t").lower()
        if (limit is not None and size > limit) or not (
            mimetype == "application/json" or mimetype.endswith("+json") or mimetype in accepted
        ):
            return self.flask(environ, start_response)
        started = time.perf_counter()
        try:
            body = environ["wsgi.input"].read(size) if size else b""
        except (OSError, ValueError):
            environ["wsgi.input"] = _Unreadable()
            return self.flask(environ, start_response)
        if len(body) != size:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask(environ, start_response)
        return self._serve(
            environ, start_response, route=path, mimetype=mimetype, body=body, started=started
        )

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        *,
        route: str,
        mimetype: str,
        body: bytes,
        started: float,
    ) -> list[bytes]:
        request_id = request_id_for(environ.get(_REQUEST_ID_KEY))
        request_id_var.set(request_id)
        rows: int | None = None
        answer_headers: list[tuple[str, str]] | None = None  # JSON's unless the .npy answer
        try:
            try:
                extensions = self.app.extensions
                model: Model = extensions[MODEL_KEY]
                settings = extensions["settings"]
                if route == predict.ROUTE:
                    rows, payload = predict.answer(model, settings, mimetype, body)
                    if wants_npy(environ.get("HTTP_ACCEPT")):
                        data = predict.npy_body(payload)
                        answer_headers = [
                            _NPY_HEADER,
                            ("Content-Length", str(len(data))),
                            *predict.npy_headers(model.info),
                        ]
                    else:
                        data = dumps(payload)
                else:
                    rows, payload = score.answer(model, settings, body, started)
                    data = dumps(payload)
                self._metrics.count_rows(route, rows)
                status = 200
            except APIError as exc:
                rows, status = None, exc.status_code
                data = dumps(error_payload(exc, request_id))
                answer_headers = None
            except Exception as exc:  # every error leaves as JSON, like Flask's
                error = log_unexpected(exc)
                rows, status = None, 500
                data = dumps(error_payload(error, request_id))
                answer_headers = None
            seconds = time.perf_counter() - started
            self._metrics.observe(route, "POST", status, seconds)
            log_request(
                {
                    "method": "POST",
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000.0, 3),
                    "rows": rows,
                }
            )
        finally:
            request_id_var.set(None)
        if answer_headers is None:
            answer_headers = [_JSON_HEADER, ("Content-Length", str(len(data)))]
        answer_headers.append((REQUEST_ID_HEADER, request_id))
        start_response(_STATUS[status], answer_headers)
        return [data]


def init_app(app: Flask) -> FastPath:
    """Put the fast path in front of the app's WSGI callable (after every route is registered)."""
    fast = FastPath(app)
    app.wsgi_app = fast  # type: ignore[method-assign]
    return fast
