"""HTTP routes, one blueprint per module."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from flask import current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import jsonio
from app.errors import APIError

_READ_CHUNK = 64 * 1024


def _read_unsized(stream: IO[bytes], limit: int) -> bytes:
    """A body without Content-Length (chunked), read to its end; 413 once it passes `limit`.

    Werkzeug caps such a stream at MAX_CONTENT_LENGTH by silently stopping there, so an
    oversized body would be parsed truncated (a 400, or worse a 200 on a valid prefix).
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise RequestEntityTooLarge()
        chunks.append(chunk)


def read_body() -> bytes:
    """The whole request body, at most MAX_CONTENT_LENGTH bytes (413 beyond), read once."""
    body: bytes | None = g.get("body")
    if body is not None:
        return body
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None:
        if "wsgi.input_terminated" in request.environ:
            # The server de-chunks the body and marks its end: read it raw, and count.
            body = _read_unsized(request.environ["wsgi.input"], limit)
        else:
            body = b""  # no length and no end marker: Werkzeug's safe fallback, an empty body
    else:
        # Werkzeug answers 413 itself for a Content-Length over the limit.
        body = request.get_data(cache=True)
    g.body = body
    return body


def read_json_body(bounds: Callable[[bytes], None] | None = None) -> Any:
    """The request body parsed as strict JSON; 415 for another content type, 400 if invalid.

    `bounds` sees the raw bytes first and raises (413) for a body that would cost more to
    parse than any acceptable one (see `app.validation.check_body_bounds`).
    """
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise APIError(
            f"expected Content-Type application/json, got {mimetype or 'none'}",
            status_code=415,
            code="unsupported_media_type",
        )
    body = read_body()
    if bounds is not None:
        bounds(body)
    try:
        return jsonio.loads(body)
    except jsonio.JSONDecodeError as exc:
        raise APIError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
