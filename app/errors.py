"""One exception hierarchy for the service, and the handlers that turn every error into JSON.

Start-up problems (`ConfigError`, `ModelLoadError`) stop the process. Request problems are one
`APIError` with `status_code` and `to_dict()`; Werkzeug's HTTP errors (404, 405, 413, ...) and
unexpected exceptions (500) leave in the same JSON shape, never as HTML or a stack trace:

    {"error": {"status": 400, "code": "invalid_input", "message": "...", "details": [...]},
     "request_id": "..."}
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from app.jsonio import json_response

log = logging.getLogger("app")


class ServiceError(Exception):
    """Base of every error this package raises."""


class ConfigError(ServiceError):
    """A setting is missing or invalid: the service does not start."""


class ModelLoadError(ServiceError):
    """The model is missing, unreadable, not the pinned one, or not servable by this image."""


class APIError(ServiceError):
    """A request the service refuses, with the HTTP status and what is wrong."""

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        code: str = "invalid_input",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status_code,
            "code": self.code,
            "message": self.message,
        }
        if self.details:
            body["details"] = self.details
        return body


def _http_code(exc: HTTPException) -> str:
    name = exc.name or "error"
    return name.lower().replace(" ", "_").replace("'", "")


def error_payload(error: APIError, request_id: str | None) -> dict[str, Any]:
    """The JSON body of an error answer (the Flask handlers and `app.fastpath` alike)."""
    payload: dict[str, Any] = {"error": error.to_dict()}
    if request_id:
        payload["request_id"] = request_id
    return payload


def _respond(error: APIError) -> Response:
    return json_response(error_payload(error, g.get("request_id")), error.status_code)


def handle_api_error(exc: APIError) -> Response:
    return _respond(exc)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = _respond(APIError(exc.description or exc.name, status, _http_code(exc)))
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def log_unexpected(exc: Exception) -> APIError:
    """Log an unexpected exception with its trace (for operators); the 500 to answer instead."""
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"fields": {"error_type": type(exc).__name__}},
    )
    return APIError("internal error", 500, "internal_error")


def handle_unexpected(exc: Exception) -> Response:
    return _respond(log_unexpected(exc))


def init_app(app: Flask) -> None:
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
