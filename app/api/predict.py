"""`POST /predict`: a batch of feature rows in, labels and class probabilities out (JSON, or an
`.npy` file when `Accept` prefers it: app/npy_answer.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request

from app import npy_answer
from app.api import check_media, parse_json, read_body
from app.config import Settings
from app.jsonio import json_response
from app.metrics import get_metrics
from app.model import Model, ModelInfo, get_model
from app.validation import (
    NPY_MEDIA,
    PACKED_MEDIA,
    check_outputs,
    is_json,
    parse_instances,
    parse_packed,
    predict_body_bounds,
)

bp = Blueprint("predict", __name__)
ROUTE = "/predict"
PACKED = (NPY_MEDIA, PACKED_MEDIA)


def answer(model: Model, settings: Settings, mimetype: str, body: bytes) -> tuple[int, Any]:
    """(rows, response payload) for a body of an accepted media type; APIError otherwise."""
    n_features, max_batch = model.info.n_features, settings.max_batch
    if is_json(mimetype):
        predict_body_bounds(body, n_features, max_batch)
        rows = parse_instances(
            parse_json(body),
            n_features,
            max_batch,
            body_may_hold_booleans=b"true" in body or b"false" in body,
        )
    else:
        rows = parse_packed(body, mimetype, n_features, max_batch)
    labels, probabilities = model.predict(rows)
    check_outputs(probabilities)
    return len(rows), {
        "predictions": labels,
        "probabilities": probabilities,
        "model": {"name": model.info.name, "version": model.info.version},
    }


def npy_body(payload: dict[str, Any]) -> bytes:
    """The `.npy` answer for `answer`'s payload (its model part goes in `npy_headers`)."""
    return npy_answer.encode(payload["predictions"], payload["probabilities"])


def npy_headers(info: ModelInfo) -> tuple[tuple[str, str], ...]:
    return npy_answer.model_headers(info.name, info.version)


@bp.post(ROUTE)
def predict() -> Response:
    model = get_model()
    settings: Settings = current_app.extensions["settings"]
    mimetype = request.mimetype
    check_media(mimetype, PACKED)
    rows, payload = answer(model, settings, mimetype, read_body())
    # Werkzeug's own negotiation; app.fastpath asks npy_answer.wants_npy, which must agree.
    if request.accept_mimetypes.best_match(npy_answer.OFFERED) == NPY_MEDIA:
        response = Response(npy_body(payload), mimetype=NPY_MEDIA)
        for name, value in npy_headers(model.info):
            response.headers.add(name, value)
    else:
        response = json_response(payload)
    # Counted once the answer is made: one that fails to encode is a 500 without rows.
    g.rows = rows
    get_metrics().count_rows(ROUTE, rows)
    return response
