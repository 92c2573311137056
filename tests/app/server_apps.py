"""A small WSGI app for tests/app/test_server_lifecycle.py: `python -m app.server
tests.app.server_apps:sleepy_app` serves `/healthz`, `/pid` (the worker's pid) and
`/sleep?seconds=S` (answers after S seconds; when `SLEEPY_APP_MARKS` names a directory, it first
leaves a file there, so a test knows the request is in the app). Its factory fails, as a model
that does not verify does, while the file named by `SLEEPY_APP_FAIL_IF` exists. `slow_app` is
the same app built in `SLOW_APP_LOAD_SECONDS` (1.5) seconds, as a large model loads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # the stack the watchdog logs ends here


def sleepy_app() -> Callable[..., Iterable[bytes]]:
    flag = os.environ.get("SLEEPY_APP_FAIL_IF")
    if flag and Path(flag).exists():
        raise RuntimeError(f"the app cannot start while {flag} exists")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if path == "/sleep":
            seconds = float(environ.get("QUERY_STRING", "").partition("=")[2] or "1")
            marks = os.environ.get("SLEEPY_APP_MARKS")
            if marks:
                (Path(marks) / f"sleep-{os.getpid()}-{time.monotonic_ns()}").touch()
            _sleep(seconds)
            body = b"slept"
        elif path == "/pid":
            body = str(os.getpid()).encode()
        else:
            body = b"ok"
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def slow_app() -> Callable[..., Iterable[bytes]]:
    time.sleep(float(os.environ.get("SLOW_APP_LOAD_SECONDS", "1.5")))
    return sleepy_app()
