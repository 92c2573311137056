"""Run the service under granian: `python -m app.server [MODULE:FACTORY]` (`app:create_app`).

granian's HTTP/1.1 server is written in Rust (hyper, tokio): parsing a request, building the
WSGI environ and sending the answer cost ~50 us of CPU here, against ~200 us for gunicorn's
gthread worker with the same no-op app (issue 20, bench/README.md). Each worker process runs
the app on `SERVER_THREADS` Python threads (default 1: the work is CPU-bound under the GIL, and
one thread avoids a thread handoff per request); connections and request bodies are read by the
Rust runtime as the app asks for them (bodies are streamed, not buffered whole), so a slow client
holds no Python thread.

Every value comes from the environment (12-factor): `BIND` (`0.0.0.0:8080`: IPv4:PORT or
[IPv6]:PORT, no host names), `WEB_CONCURRENCY` (2 worker processes), `SERVER_THREADS` (1),
`SERVER_BACKLOG` (1024), `SERVER_TIMEOUT` (30 s; 0: off), `SERVER_GRACEFUL_TIMEOUT` (20 s),
`LOG_LEVEL` (INFO). A malformed value, a `GUNICORN_*` variable left over from the gunicorn days,
or a `BIND` granian cannot listen on (port taken, address not this host's) stops the launcher
with exit code 2 and one JSON line naming the setting (and its new name): nothing is silently
ignored.

On Linux granian gives each worker its own `SO_REUSEPORT` listening socket (as gunicorn's
`reuse_port` did; there is no shared-socket mode): the kernel hashes new connections over the
workers, and connections still waiting in the accept queue of a worker that ends (the watchdog
below) are reset unless the node sets `net.ipv4.tcp_migrate_req=1`.

The factory is called once per worker (no preload), so each worker loads and verifies the model
itself. A worker that cannot build the app exits with `EXIT_APP_LOAD` (3) and the whole server
then stops with that code, promptly, instead of respawning it: a model that does not load will
not load on the next try either (granian's own crash-loop guard only catches a failure within
5.5 s of a respawn, and a large model takes longer than that to load). A worker *killed* while it
loads (the OOM killer in a memory-limited container: SIGKILL; a segfault) cannot say so itself:
each worker gets a flag in shared memory that it sets once the app is built, and a worker that
dies abnormally (a signal, or a nonzero exit code other than the two below) before setting it is
a failed load of its slot. `LOAD_DEATHS_LIMIT` (3) such deaths in a row of one slot stop the
server with `EXIT_APP_LOAD` and one error line naming the worker and how it died; until then it
is respawned (granian's 5.5 s guard does not apply to these deaths). A worker that had loaded the
app resets its slot's count however it ends, and if it dies is respawned as before.

`SERVER_TIMEOUT` replaces gunicorn's worker timeout: a watchdog thread in each worker checks the
requests in progress once a second; when one has run longer, it logs an error line (with the
stuck thread's stack) and ends the worker (`EXIT_REQUEST_TIMEOUT`, 4); granian starts a new one
(`respawn_failed_workers`), however soon after its last respawn (granian's crash-loop guard does
not count these endings). Unlike gunicorn's arbiter, the watchdog is a Python thread in the
worker itself: a request stuck in C code that holds the GIL also stops the watchdog (onnxruntime
releases the GIL while it runs a model; the liveness probe still restarts such a pod).

Every log line, granian's own included, is one JSON object (`app.logging.JSONFormatter`).
"""

from __future__ import annotations

import ctypes
import importlib
import ipaddress
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from app.logging import JSONFormatter, parse_level

DEFAULT_TARGET = "app:create_app"
# Worker exit codes (the server's own exit code is EXIT_APP_LOAD when a worker could not start).
EXIT_APP_LOAD = 3
EXIT_REQUEST_TIMEOUT = 4
EXIT_USAGE = 2
# Deaths in a row of one worker slot before it had built the app (killed: out of memory, say)
# after which the server stops with EXIT_APP_LOAD instead of loading the model yet again.
LOAD_DEATHS_LIMIT = 3

log = logging.getLogger("app.server")

# gunicorn's settings (app/gunicorn_conf.py until issue 20) and what replaced them. A deployment
# still setting one would otherwise run with a default it did not ask for.
RENAMED = {
    "GUNICORN_THREADS": "SERVER_THREADS",
    "GUNICORN_TIMEOUT": "SERVER_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT": "SERVER_GRACEFUL_TIMEOUT",
    "GUNICORN_BACKLOG": "SERVER_BACKLOG",
}
NO_EQUIVALENT = {
    "GUNICORN_KEEPALIVE": "granian closes a connection idle for 30 s; the proxy closes its idle "
    "upstream connections after 4 s, deploy/base/nginx.conf",
    "GUNICORN_REUSE_PORT": "granian's workers always bind one SO_REUSEPORT socket each on "
    "Linux, as gunicorn's reuse_port did",
    "GUNICORN_CMD_ARGS": "gunicorn's command-line arguments",
}


class ServerConfigError(ValueError):
    """A server setting in the environment is malformed, or a retired one is still set."""


class ListenError(RuntimeError):
    """granian could not listen on `BIND` (the port taken, the address not this host's, ...)."""


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    workers: int
    threads: int
    backlog: int
    graceful_timeout: int
    timeout: int = 30  # seconds one request may run before its worker is replaced; 0: never
    log_level: str = "INFO"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServerConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ServerConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _bind(raw: str) -> tuple[str, int]:
    """`IPv4:PORT` or `[IPv6]:PORT`. granian listens on an IP address and resolves no names (a
    host name would stop it with a traceback), and an IPv6 address without brackets is
    ambiguous (`fe80::1:8080`)."""
    usage = f"BIND={raw!r} must be IP:PORT, e.g. 0.0.0.0:8080, 127.0.0.1:8081 or [::]:8080"
    host, sep, port = raw.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ServerConfigError(usage)
    bracketed = host.startswith("[") and host.endswith("]")
    address = host[1:-1] if bracketed else host
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        raise ServerConfigError(
            f"{usage} (granian listens on an IP address; it does not resolve a name)"
        ) from None
    if version != (6 if bracketed else 4):
        raise ServerConfigError(f"{usage} (an IPv6 address goes in brackets, an IPv4 one not)")
    return address, int(port)


def retired_settings(env: Mapping[str, str]) -> list[str]:
    """One message per `GUNICORN_*` variable still set, naming what to use instead."""
    messages = []
    for name in sorted(key for key in env if key.startswith("GUNICORN_")):
        if name in RENAMED:
            messages.append(
                f"{name} is no longer read: the server is granian now; use {RENAMED[name]}"
            )
        elif name in NO_EQUIVALENT:
            messages.append(
                f"{name} is no longer read and has no equivalent ({NO_EQUIVALENT[name]}): remove it"
            )
        else:
            messages.append(
                f"{name} is no longer read: the server is granian now; "
                "see app/README.md for the SERVER_* settings, and remove it"
            )
    return messages


def load_server_settings(env: Mapping[str, str]) -> ServerSettings:
    retired = retired_settings(env)
    if retired:
        raise ServerConfigError("; ".join(retired))
    host, port = _bind(env.get("BIND", "0.0.0.0:8080"))
    try:
        # the app's own rule (app/config.py): a LOG_LEVEL its workers would refuse is refused here
        log_level = parse_level(env.get("LOG_LEVEL", "INFO"))
    except ValueError as exc:
        raise ServerConfigError(f"LOG_LEVEL {exc}") from None
    settings = ServerSettings(
        host=host,
        port=port,
        workers=_int(env, "WEB_CONCURRENCY", 2, 1),
        threads=_int(env, "SERVER_THREADS", 1, 1),
        backlog=_int(env, "SERVER_BACKLOG", 1024, 128),
        graceful_timeout=_int(env, "SERVER_GRACEFUL_TIMEOUT", 20, 1),
        timeout=_int(env, "SERVER_TIMEOUT", 30, 0),
        log_level=log_level,
    )
    if settings.timeout and settings.timeout < 2:
        raise ServerConfigError(f"SERVER_TIMEOUT={settings.timeout} must be 0 (off) or at least 2")
    return settings


def log_dictconfig(level: str) -> dict[str, Any]:
    """granian's `log_dictconfig`: its loggers write JSON lines to stdout, like the app's.

    granian merges the top-level keys over its defaults, so every key it uses is given whole.
    `_granian` is the logger of its Python and Rust code; `granian.access` stays quiet (the app
    logs one structured line per request itself); `app.server` is this module's.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logging.JSONFormatter"}},
        "handlers": {"console": handler},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            "granian.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "app.server": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }


def reset_metrics_directory(env: Mapping[str, str]) -> None:
    """An empty Prometheus multiprocess directory before any worker starts.

    Every gauge of app/metrics.py aggregates with `max`, so a dead worker's files need no cleanup
    (gunicorn's `child_exit` hook had nothing to do either).
    """
    directory = env.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)


def resolve(target: str) -> Callable[[], Any]:
    """`MODULE:FACTORY` as the factory; ValueError says what is wrong with it."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise ValueError(f"{target!r} is not MODULE:FACTORY, e.g. {DEFAULT_TARGET}")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"{module_name} has no callable {attr!r}")  # noqa: TRY004 (usage)
    return factory  # type: ignore[no-any-return]


# --- in each worker -------------------------------------------------------------------------


def _flush_log() -> None:
    """Everything this module logged, out before `os._exit` (which flushes nothing)."""
    for handler in log.handlers:
        handler.flush()
    sys.stdout.flush()


class RequestWatchdog:
    """WSGI middleware noting when each thread's request started, and a thread that ends the
    worker when one has run longer than `timeout` seconds (gunicorn's worker timeout).

    It measures the app's call, where this service does its work (parse, predict, serialize);
    the answer is one buffered body, written by granian afterwards.
    """

    def __init__(self, app: Callable[..., Any], timeout: float, tick: float = 1.0) -> None:
        self.app = app
        self.timeout = timeout
        self.tick = min(tick, timeout / 4)
        # thread id -> (monotonic start, environ); one entry per request in progress.
        self.running: dict[int, tuple[float, dict[str, Any]]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        ident = threading.get_ident()
        self.running[ident] = (time.monotonic(), environ)
        try:
            return self.app(environ, start_response)
        finally:
            self.running.pop(ident, None)

    def start(self) -> RequestWatchdog:
        threading.Thread(target=self._watch, name="request-watchdog", daemon=True).start()
        return self

    def overdue(self, now: float) -> tuple[int, float, dict[str, Any]] | None:
        for ident, (started, environ) in list(self.running.items()):
            if now - started > self.timeout:
                return ident, now - started, environ
        return None

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            stuck = self.overdue(time.monotonic())
            if stuck is None:
                continue
            ident, seconds, environ = stuck
            frame = sys._current_frames().get(ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
            log.error(
                "request timed out: ending the worker (granian starts a new one)",
                extra={
                    "fields": {
                        "method": environ.get("REQUEST_METHOD"),
                        "path": environ.get("PATH_INFO"),
                        "seconds": round(seconds, 3),
                        "timeout": self.timeout,
                        "pid": os.getpid(),
                        "stack": stack,
                    }
                },
            )
            _flush_log()
            os._exit(EXIT_REQUEST_TIMEOUT)


def load_app(target: str, timeout: int) -> Callable[..., Any]:
    """granian's target loader, run in each new worker: the app, or exit `EXIT_APP_LOAD`."""
    # Until granian sets the worker's own handlers (after this returns), SIGTERM would run the
    # master's handler inherited through fork, which does nothing in a worker: a worker still
    # loading the model would ignore a shutdown until killed.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        app = resolve(target)()
    except Exception as exc:
        log.error(
            f"worker could not start the app: {exc}",
            exc_info=True,
            extra={"fields": {"pid": os.getpid(), "target": target}},
        )
        _flush_log()
        os._exit(EXIT_APP_LOAD)
    if timeout:
        return RequestWatchdog(app, timeout).start()
    return app  # type: ignore[no-any-return]


def load_and_mark(loader: Callable[[], Any], loaded: Any) -> Any:
    """The worker's loader (`load_app` with its arguments), then `loaded` (a shared
    `ctypes.c_bool`) set: from now on the master knows this worker built the app."""
    app = loader()
    loaded.value = True
    return app


# --- in the master --------------------------------------------------------------------------


def how_it_died(exitcode: int | None) -> str:
    """`multiprocessing`'s exit code in words: `killed by SIGKILL (out of memory?)`."""
    if exitcode is None:
        return "ended (exit code unknown)"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    return f"killed by {name}" + (" (out of memory?)" if exitcode == -signal.SIGKILL else "")


def _server_class() -> type[Any]:
    from granian.server.mp import MPServer

    class Server(MPServer):
        """granian's multi-process server, except that a worker which could not build the app
        stops the server (with `EXIT_APP_LOAD`) instead of being respawned, as do
        `LOAD_DEATHS_LIMIT` deaths in a row of one slot's workers before they had built it.

        granian watches each worker from a thread of the main process (`_watcher`: join, then
        flag the worker as failed for the main loop, which respawns it); for a worker that exits
        with `EXIT_APP_LOAD` this server's watcher asks the main loop to stop instead.

        Whether a dead worker had built the app: a `ctypes.c_bool` in shared memory
        (`multiprocessing.RawValue`), one per worker, made here before the worker is forked (and
        handed to it with the loader, which a spawned worker would receive pickled) and set by
        the worker once the app is built (`load_and_mark`). No file, no process to clean up: the
        memory goes with the last process holding it. A flag per worker, not per slot, so a
        replacement started while the old worker still runs (SIGHUP, worker lifetime) cannot
        read the old one's flag.
        """

        app_load_failed = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.load_deaths: dict[int, int] = {}  # slot -> its workers' deaths before loading
            self._load_deaths_lock = threading.Lock()

        def _stop_with_app_load(self) -> None:
            self.app_load_failed = True
            self.interrupt_signal = True
            self.main_loop_interrupt.set()

        def _init_shared_socket(self) -> None:
            # granian binds in the main process first (on Linux each worker then binds its own
            # SO_REUSEPORT socket); a failure here is a RuntimeError from Rust carrying a
            # backtrace when RUST_BACKTRACE is set, not a line an operator should have to read.
            try:
                super()._init_shared_socket()  # type: ignore[no-untyped-call]
            except (OSError, RuntimeError) as exc:
                raise ListenError(str(exc).strip().splitlines()[0]) from None

        # MPServer's signature (granian calls it with these keywords); AbstractServer's also
        # names a `socket_loader` that no subclass takes.
        def _spawn_worker(  # type: ignore[override]
            self, idx: int, target: Any, callback_loader: Any
        ) -> Any:
            loaded = multiprocessing.RawValue(ctypes.c_bool, False)
            loader = partial(load_and_mark, callback_loader, loaded)
            worker = super()._spawn_worker(idx, target, loader)
            granian_watcher: Callable[[], None] = worker._watcher

            def watcher() -> None:
                worker.inner.join()
                exitcode = worker.inner.exitcode
                if loaded.value:
                    with self._load_deaths_lock:
                        self.load_deaths.pop(idx, None)
                if worker.interrupt_by_parent or exitcode == 0:
                    granian_watcher()
                    return
                if exitcode == EXIT_APP_LOAD:
                    log.error(f"worker-{idx + 1} could not start the app: stopping the server")
                    self._stop_with_app_load()
                    return
                if exitcode == EXIT_REQUEST_TIMEOUT:
                    # The watchdog ended it: not a crash. granian's crash-loop guard would stop
                    # the whole server (exit 1) when a worker respawned less than 5.5 s ago ends
                    # again, i.e. on a second stuck request with a short SERVER_TIMEOUT.
                    self.respawned_wrks.pop(idx, None)
                elif not loaded.value and self._died_loading(idx, worker.inner.pid, exitcode):
                    return
                granian_watcher()

            worker._watcher = watcher  # type: ignore[method-assign]  # run by `start()`
            return worker

        def _died_loading(self, idx: int, pid: int | None, exitcode: int | None) -> bool:
            """Count a death of slot `idx`'s worker before it built the app; True when that
            makes `LOAD_DEATHS_LIMIT` in a row and the server is stopping."""
            with self._load_deaths_lock:
                deaths = self.load_deaths[idx] = self.load_deaths.get(idx, 0) + 1
            fields = {
                "worker": f"worker-{idx + 1}",
                "pid": pid,
                "deaths": deaths,
                "limit": LOAD_DEATHS_LIMIT,
                "died": how_it_died(exitcode),
            }
            if deaths >= LOAD_DEATHS_LIMIT:
                log.error(
                    f"worker-{idx + 1} died {deaths} times in a row before it had loaded the app "
                    f"(last: {fields['died']}): stopping the server",
                    extra={"fields": fields},
                )
                self._stop_with_app_load()
                return True
            log.warning(
                f"worker-{idx + 1} {fields['died']} before it had loaded the app "
                f"({deaths} of {LOAD_DEATHS_LIMIT} in a row): respawning it",
                extra={"fields": fields},
            )
            # A failed load however soon after the last respawn: counted here, not by granian's
            # crash-loop guard (which would stop the server with exit code 1 within 5.5 s).
            self.respawned_wrks.pop(idx, None)
            return False

    return Server


def serve(target: str, settings: ServerSettings) -> int:
    """Run granian until SIGTERM/SIGINT (0) or until a worker cannot build the app (3);
    `ListenError` if it cannot listen on the address."""
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    server = _server_class()(
        target,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http=HTTPModes.http1,
        websockets=False,
        backlog=settings.backlog,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=log_dictconfig(settings.log_level),
        log_access=False,  # the app logs one structured line per request itself
        respawn_failed_workers=True,  # a worker ended by the watchdog is replaced
        workers_kill_timeout=settings.graceful_timeout,
    )
    server.serve(target_loader=partial(load_app, timeout=settings.timeout))
    return EXIT_APP_LOAD if server.app_load_failed else 0


def _refuse(message: str) -> int:
    """A JSON error line on stderr (nothing is configured yet), and the usage exit code."""
    record = logging.LogRecord("app.server", logging.ERROR, __file__, 0, message, None, None)
    print(JSONFormatter().format(record), file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        return _refuse("usage: python -m app.server [MODULE:FACTORY]")
    target = args[0] if args else DEFAULT_TARGET
    try:
        settings = load_server_settings(os.environ)
    except ServerConfigError as exc:
        return _refuse(str(exc))
    try:
        resolve(target)  # a typo fails here, once, not in every worker
    except (ValueError, ImportError) as exc:
        return _refuse(f"usage: python -m app.server [MODULE:FACTORY]: {exc}")
    reset_metrics_directory(os.environ)
    try:
        return serve(target, settings)
    except ListenError as exc:
        return _refuse(f"cannot listen on BIND={os.environ.get('BIND', '0.0.0.0:8080')}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
