"""Fast JSON in and out (orjson): request bodies are parsed once, numpy arrays dumped natively."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=_DUMP_OPTIONS)


def loads(data: bytes | str) -> Any:
    """Parse strict JSON (NaN/Infinity are not JSON: rejected). Raises JSONDecodeError."""
    return orjson.loads(data)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json")


JSONDecodeError = orjson.JSONDecodeError
