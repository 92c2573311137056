"""The service's server (`python -m app.server`, granian) as a real process on loopback, for the
tests of tests/app/test_server*.py and tests/deploy/test_proxy.py."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localworld.process import free_port
from tests.app.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "app.server"]


def server_env(model_dir: Path | None, port: int, tmp_path: Path, **changes: str) -> dict[str, str]:
    """The test process's environment minus any server setting, plus the model's pin (if any),
    the port, 2 workers and a Prometheus directory; then `changes`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "SERVER_")) and key != "LOG_LEVEL"
    }
    if model_dir is not None:
        env.update(
            {
                "MODEL_DIR": str(model_dir),
                "MODEL_SHA256": sha256_of(model_dir / "model.onnx"),
                "MODEL_NAME": "digits",
                "MODEL_VERSION": "1",
            }
        )
    env.update(
        {
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        }
    )
    env.update(changes)
    return env


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one answer: status, headers (lower-case names), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()


def children(pid: int) -> set[int]:
    """The processes `pid` started (granian's workers, for its main process)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


@dataclass
class ServerProcess:
    """`python -m app.server [target]` with its output (stdout and stderr) in `log_path`."""

    env: dict[str, str]
    log_path: Path
    target: str | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_path: str = "/readyz", deadline: float = 30) -> ServerProcess:
        self.port = int(self.env["BIND"].rsplit(":", 1)[1])
        self._log = self.log_path.open("wb")
        argv = [*SERVER, self.target] if self.target else SERVER
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.proc.returncode}: {self.text()}"
                )
            try:
                if get(f"{self.base}{ready_path}", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not become ready: {self.text()}")

    def wait_started(self, workers: int, deadline: float = 30) -> None:
        """Until granian says `workers` workers have started (the app built in each)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if sum('"Started worker-' in line for line in self.text().splitlines()) >= workers:
                return
            time.sleep(0.05)
        raise AssertionError(f"{workers} workers did not start: {self.text()}")

    def workers(self) -> set[int]:
        return children(self.pid)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        """Every line of output as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.stop()


def start_server(
    model_dir: Path | None,
    tmp_path: Path,
    target: str | None = None,
    name: str = "server",
    **env: str,
) -> ServerProcess:
    port = free_port()
    server = ServerProcess(
        server_env(model_dir, port, tmp_path, **env), tmp_path / f"{name}.log", target
    )
    try:
        return server.start(ready_path="/readyz" if target is None else "/healthz")
    except BaseException:
        if server.proc is not None:
            server.stop()
        raise
