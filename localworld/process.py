"""Start a server process, wait (bounded) until it answers, stop it by its PID."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localworld.errors import ServiceStartError

LOOPBACK = "127.0.0.1"


#: Under pytest-xdist each worker takes its ports from its own block below Linux's ephemeral
#: range (32768-60999): a port the kernel hands out for `bind(0)` in one worker could be handed
#: to the other in the moment between this function and the server's own bind, and ports below
#: that range are never given to outgoing connections either. Subprocesses inherit the variable.
_WORKER_PORTS_FROM = 20000
_WORKER_PORTS_EACH = 1500
_XDIST_WORKER = re.compile(r"gw([0-9]{1,2})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (in this xdist worker's own block)."""
    worker = _XDIST_WORKER.fullmatch(os.environ.get("PYTEST_XDIST_WORKER", ""))
    if worker is None or int(worker.group(1)) >= 8:
        return _bound_port(0)
    low = _WORKER_PORTS_FROM + int(worker.group(1)) * _WORKER_PORTS_EACH
    start = secrets.randbelow(_WORKER_PORTS_EACH)  # like the kernel: a random start, then in turn
    for step in range(_WORKER_PORTS_EACH):
        with contextlib.suppress(OSError):
            return _bound_port(low + (start + step) % _WORKER_PORTS_EACH)
    block = f"{low}-{low + _WORKER_PORTS_EACH - 1}"
    raise ServiceStartError("free port", f"every port in {block} on {LOOPBACK} is taken", "")


def _bound_port(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, port))
        return int(sock.getsockname()[1])


def tcp_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


@dataclass
class ServiceProcess:
    """One server process of the local world.

    `ready` is polled until it returns True or `start_timeout` seconds pass; the process is
    started in its own session so that it outlives a CLI invocation (`make services-up`) and
    can be stopped by PID alone.
    """

    name: str
    argv: Sequence[str]
    log_path: Path
    ready: Callable[[], bool]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    start_timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    pid: int | None = field(default=None, init=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self.proc = subprocess.Popen(
                    list(self.argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServiceStartError(self.name, str(exc), tail(self.log_path)) from exc
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServiceStartError(
                    self.name, f"exited with code {code} before answering", tail(self.log_path)
                )
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ServiceStartError(
            self.name, f"not ready after {self.start_timeout:.0f}s", tail(self.log_path)
        )

    def detach(self) -> None:
        """Hand the running process over to whoever stops it by PID later (`localworld down`).

        Popen warns when an object whose child still runs is collected; the child is meant to
        outlive us here, so mark the handle as settled and drop it.
        """
        if self.proc is not None:
            self.proc.returncode = 0
            self.proc = None

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, grace)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        self.proc = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().split(") ", 1)[1][:1] != "Z"
    return True


def stop_pid(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                return
            time.sleep(0.05)
