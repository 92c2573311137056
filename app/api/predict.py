"""`POST /predict`: a batch of feature rows in, labels and class probabilities out."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from app.api import read_body, read_json_body
from app.config import Settings
from app.jsonio import json_response
from app.metrics import get_metrics
from app.model import get_model
from app.validation import check_outputs, parse_instances, predict_body_bounds

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict() -> Response:
    model = get_model()
    settings: Settings = current_app.extensions["settings"]
    doc = read_json_body(
        lambda raw: predict_body_bounds(raw, model.info.n_features, settings.max_batch)
    )
    raw = read_body()
    rows = parse_instances(
        doc,
        model.info.n_features,
        settings.max_batch,
        body_may_hold_booleans=b"true" in raw or b"false" in raw,
    )
    labels, probabilities = model.predict(rows)
    check_outputs(probabilities)
    g.rows = len(rows)
    get_metrics().count_rows("/predict", len(rows))
    return json_response(
        {
            "predictions": labels,
            "probabilities": probabilities,
            "model": {"name": model.info.name, "version": model.info.version},
        }
    )
