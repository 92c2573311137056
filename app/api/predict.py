"""`POST /predict`: a batch of feature rows in, labels and class probabilities out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request

from app.api import check_media, parse_json, read_body
from app.config import Settings
from app.jsonio import json_response
from app.metrics import get_metrics
from app.model import Model, get_model
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


@bp.post(ROUTE)
def predict() -> Response:
    model = get_model()
    settings: Settings = current_app.extensions["settings"]
    mimetype = request.mimetype
    check_media(mimetype, PACKED)
    rows, payload = answer(model, settings, mimetype, read_body())
    g.rows = rows
    get_metrics().count_rows(ROUTE, rows)
    return json_response(payload)
