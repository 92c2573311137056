"""The prediction service: `create_app()` wires settings, logging, errors, metrics, the model and
the routes. Nothing happens at import time; the server (`python -m app.server`: granian, see
app/server.py) calls `app:create_app` once in each worker process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import errors, fastpath, hooks, metrics, model
from app.api import health, predict, score
from app.config import ENV_NAMES, load_settings
from app.logging import configure as configure_logging

__all__ = ["create_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `overrides` (UPPER_CASE keys).

    Keys that are not service settings (e.g. `TESTING`) go to Flask's config. Raises
    `ConfigError` or `ModelLoadError` when the service must not start.
    """
    settings = load_settings(os.environ, overrides)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    for key, value in (overrides or {}).items():
        if key not in ENV_NAMES:
            app.config[key] = value
    app.extensions["settings"] = settings

    configure_logging(settings.log_level)
    errors.init_app(app)
    served_metrics = metrics.init_app(app)
    hooks.init_app(app)
    loaded = model.init_app(app, settings)
    served_metrics.model_info.labels(
        loaded.info.name or "",
        str(loaded.info.version or ""),
        loaded.info.sha256,
        loaded.info.signature,
    ).set(1)
    served_metrics.model_load_seconds.set(loaded.info.load_seconds)

    app.register_blueprint(health.bp)
    app.register_blueprint(predict.bp)
    app.register_blueprint(score.bp)
    fastpath.init_app(app)  # POST /predict and /score answered before Flask (app/fastpath.py)
    return app
