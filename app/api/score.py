"""`POST /score`: the original reference's API, base64 images in, top-3 labels out."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g

from app.api import read_json_body
from app.config import Settings
from app.imaging import decode_images, images_to_rows, score_body_bounds, top_k
from app.jsonio import json_response
from app.metrics import get_metrics
from app.model import get_model
from app.validation import check_outputs

bp = Blueprint("score", __name__)


@bp.post("/score")
def score() -> Response:
    started = time.perf_counter()
    model = get_model()
    settings: Settings = current_app.extensions["settings"]
    doc = read_json_body(lambda raw: score_body_bounds(raw, settings.score_max_images))
    images = decode_images(doc, settings.score_max_images)
    rows = images_to_rows(images, model.info.n_features, settings.score_max_pixels)
    _, probabilities = model.predict(rows)
    check_outputs(probabilities)
    g.rows = len(rows)
    get_metrics().count_rows("/score", len(rows))
    return json_response(
        {
            "result": top_k(probabilities, model.info.labels, 3),
            "time": round(time.perf_counter() - started, 6),
            "model": {"name": model.info.name, "version": model.info.version},
        }
    )
