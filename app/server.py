"""Run the service under granian: `python -m app.server [MODULE:FACTORY]`.

granian's HTTP/1.1 server is written in Rust (hyper, tokio): parsing a request, building the
WSGI environ and sending the answer cost ~50 us of CPU here, against ~200 us for gunicorn's
gthread worker with the same no-op app (issue 20, bench/README.md). Each worker process runs
the app on `SERVER_THREADS` Python threads (default 1: the work is CPU-bound under the GIL, and
one thread avoids a thread handoff per request); connections and request bodies are read by the
Rust runtime, so a slow client holds no Python thread.

Every value comes from the environment (12-factor); the factory is called once per worker (no
preload), so each worker loads and verifies the model itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TARGET = "app:create_app"


class ServerConfigError(ValueError):
    """A server setting in the environment is malformed."""


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    workers: int
    threads: int
    backlog: int
    graceful_timeout: int


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServerConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ServerConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _bind(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServerConfigError(f"BIND={raw!r} must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def load_server_settings(env: Mapping[str, str]) -> ServerSettings:
    host, port = _bind(env.get("BIND", "0.0.0.0:8080"))
    return ServerSettings(
        host=host,
        port=port,
        workers=_int(env, "WEB_CONCURRENCY", 2, 1),
        threads=_int(env, "SERVER_THREADS", 1, 1),
        backlog=_int(env, "SERVER_BACKLOG", 1024, 16),
        graceful_timeout=_int(env, "SERVER_GRACEFUL_TIMEOUT", 20, 1),
    )


def reset_metrics_directory(env: Mapping[str, str]) -> None:
    """An empty Prometheus multiprocess directory before any worker starts."""
    directory = env.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)


def serve(target: str, settings: ServerSettings) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    server = Granian(
        target,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http=HTTPModes.http1,
        websockets=False,
        backlog=settings.backlog,
        log_access=False,  # the app logs one structured line per request itself
        workers_kill_timeout=settings.graceful_timeout,
        factory=True,
    )
    server.serve()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and ":" not in args[0]):
        print("usage: python -m app.server [MODULE:FACTORY]", file=sys.stderr)
        return 2
    try:
        settings = load_server_settings(os.environ)
    except ServerConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reset_metrics_directory(os.environ)
    serve(args[0] if args else DEFAULT_TARGET, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
