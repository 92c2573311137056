"""HTTP routes, one blueprint per module; each hot route's work after the body is read is one
function (`predict.answer`, `score.answer`) shared by its Flask view and `app.fastpath`."""

from __future__ import annotations

from typing import IO, Any

from flask import current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import jsonio
from app.errors import APIError
from app.validation import JSON_MEDIA, is_json

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


def check_media(mimetype: str, accepted: tuple[str, ...] = ()) -> None:
    """415 unless the request's media type is JSON (`application/json`, `*+json`) or one of
    `accepted`."""
    if is_json(mimetype) or mimetype in accepted:
        return
    expected = ", ".join([JSON_MEDIA, *accepted])
    raise APIError(
        f"expected Content-Type {expected}, got {mimetype or 'none'}",
        status_code=415,
        code="unsupported_media_type",
    )


def parse_json(body: bytes) -> Any:
    """The body parsed as strict JSON, else a 400 `invalid_json`."""
    try:
        return jsonio.loads(body)
    except jsonio.JSONDecodeError as exc:
        raise APIError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
