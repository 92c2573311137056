"""`POST /score`: the original reference's API, base64 images in, top-3 labels out."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from app.api import check_media, parse_json, read_body
from app.config import Settings
from app.imaging import decode_images, images_to_rows, score_body_bounds, top_k
from app.jsonio import json_response
from app.metrics import get_metrics
from app.model import Model, get_model

bp = Blueprint("score", __name__)
ROUTE = "/score"


def answer(model: Model, settings: Settings, body: bytes, started: float) -> tuple[int, Any]:
    """(images, response payload) for a JSON body; `time` counts from `started`."""
    score_body_bounds(body, settings.score_max_images)
    images = decode_images(parse_json(body), settings.score_max_images)
    rows = images_to_rows(images, model.info.n_features, settings.score_max_pixels)
    _, probabilities = model.predict(rows)
    return len(rows), {
        "result": top_k(probabilities, model.info.labels, 3),  # refuses non-finite ones
        "time": round(time.perf_counter() - started, 6),
        "model": {"name": model.info.name, "version": model.info.version},
    }


@bp.post(ROUTE)
def score() -> Response:
    started = time.perf_counter()
    model = get_model()
    settings: Settings = current_app.extensions["settings"]
    check_media(request.mimetype)
    rows, payload = answer(model, settings, read_body(), started)
    g.rows = rows
    get_metrics().count_rows(ROUTE, rows)
    return json_response(payload)
