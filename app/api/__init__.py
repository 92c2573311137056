"""HTTP routes, one blueprint per module."""

from __future__ import annotations

from typing import Any

from flask import request

from app import jsonio
from app.errors import APIError


def read_json_body() -> Any:
    """The request body parsed as strict JSON; 415 for another content type, 400 if invalid."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise APIError(
            f"expected Content-Type application/json, got {mimetype or 'none'}",
            status_code=415,
            code="unsupported_media_type",
        )
    body = request.get_data(cache=True)
    try:
        return jsonio.loads(body)
    except jsonio.JSONDecodeError as exc:
        raise APIError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
