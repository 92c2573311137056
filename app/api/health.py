"""Probes and facts: `/` (the reference's probe), `/healthz`, `/readyz`, `/version`, `/metrics`,
`/openapi.json`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.config import Settings
from app.jsonio import json_response
from app.metrics import CONTENT_TYPE_LATEST, get_metrics
from app.model import EXTENSION_KEY, Model
from app.openapi import build_openapi

bp = Blueprint("health", __name__)


@bp.get("/")
def root() -> Response:
    return Response("Healthy", mimetype="text/plain")


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    model: Model | None = current_app.extensions.get(EXTENSION_KEY)
    if model is None:
        return json_response({"status": "not ready", "reason": "model not loaded"}, 503)
    return json_response({"status": "ready", "model_sha256": model.info.sha256})


@bp.get("/version")
def version() -> Response:
    settings: Settings = current_app.extensions["settings"]
    model: Model = current_app.extensions[EXTENSION_KEY]
    return json_response(
        {
            "app": {
                "version": settings.app_version,
                "revision": settings.app_revision,
                "created": settings.app_created,
            },
            "model": {
                "name": model.info.name,
                "version": model.info.version,
                "sha256": model.info.sha256,
                "signature": model.info.signature,
                "labels": list(model.info.labels),
            },
        }
    )


@bp.get("/metrics")
def metrics() -> Response:
    return Response(get_metrics().exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Response:
    settings: Settings = current_app.extensions["settings"]
    model: Model = current_app.extensions[EXTENSION_KEY]
    return json_response(build_openapi(model.info, settings))
