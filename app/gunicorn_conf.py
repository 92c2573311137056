"""gunicorn settings for the image: `gunicorn -c python:app.gunicorn_conf 'app:create_app()'`.

Every value comes from the environment (12-factor). The app is built in each worker, never in
the master (no preload): each worker loads the model once and keeps its own onnxruntime session;
a worker that cannot load or verify the model exits, and gunicorn then stops with a non-zero code.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# In the container the pod network is the only way in; local runs set BIND=127.0.0.1:PORT.
bind = [os.environ.get("BIND", "0.0.0.0:8080")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread keeps client connections alive (the sync worker closes each one); this subclass only
# touches its heartbeat file once a second instead of on every event (app/gunicorn_worker.py).
worker_class = "app.gunicorn_worker.ThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
preload_app = False
# gunicorn 24+ opens a control socket under $HOME by default; the service needs none.
control_socket_disable = True
accesslog = None  # the app logs one structured line per request itself
logger_class = "app.gunicorn_logging.Logger"  # and builds no access-log entry to discard
# Each worker binds its own SO_REUSEPORT socket and the kernel spreads new connections over
# them. With one shared socket, whichever worker wakes first accepts every connection of a
# burst: keep-alive clients (nginx's upstream connections, wrk) often all landed on one worker,
# leaving the other core idle. Trade-off: connections still queued on a worker's socket when
# it exits are reset (unless net.ipv4.tcp_migrate_req is set).
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") != "0"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn merges this over its defaults: redefine every handler they refer to, as JSON lines.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logging.JSONFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
            "qualname": "gunicorn.error",
        },
        # The app writes one structured line per request itself; no second access log.
        "gunicorn.access": {
            "level": "WARNING",
            "handlers": [],
            "propagate": False,
            "qualname": "gunicorn.access",
        },
    },
}


def on_starting(_server: Any) -> None:
    """JSON for gunicorn's own error answers; an empty Prometheus multiprocess directory."""
    from app.gunicorn_errors import install

    install()  # in the master, so every forked worker has it
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
