"""Workers killed while they load the app (the OOM killer in a memory-limited container, a
segfault), with real granian processes (`python -m app.server`) and an app that takes 1.5 s to
build (tests/app/server_apps.py:slow_app): LOAD_DEATHS_LIMIT such deaths in a row of one slot
stop the server with exit code 3; a worker that had loaded the app is respawned and resets its
slot's count."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from app.server import EXIT_APP_LOAD, LOAD_DEATHS_LIMIT, how_it_died
from tests.app.serverproc import ServerProcess, get, start_server

APP = "tests.app.server_apps:slow_app"


def _wait_for(predicate: Callable[[], object], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def _new_worker(s: ServerProcess, seen: set[int]) -> int:
    """The PID of the next worker granian starts (one not in `seen`, which it joins)."""
    found: list[int] = []

    def appeared() -> bool:
        found.extend(s.workers() - seen)
        return bool(found)

    _wait_for(appeared, 10)
    [pid] = found
    seen.add(pid)
    return pid


def _slot(s: ServerProcess, pid: int) -> str:
    """`worker-N`, from granian's `Spawning worker-N with PID: pid` line."""
    _wait_for(lambda: f"PID: {pid}" in s.text(), 5)
    [slot] = re.findall(rf"Spawning (worker-\d+) with PID: {pid}\b", s.text())
    return str(slot)


def _serves(s: ServerProcess, pid: int) -> bool:
    """Whether `pid` answers /pid (with one worker, nothing else can)."""
    try:
        return get(f"{s.base}/pid", timeout=2) == (200, str(pid).encode())
    except OSError:
        return False


def _load_messages(s: ServerProcess) -> list[str]:
    return [e["message"] for e in s.lines() if "before it had loaded the app" in e["message"]]


def test_how_it_died_names_the_signal() -> None:
    assert how_it_died(-signal.SIGKILL) == "killed by SIGKILL (out of memory?)"
    assert how_it_died(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert how_it_died(-200) == "killed by signal 200"
    assert how_it_died(1) == "exited with code 1"


def test_workers_killed_while_loading_stop_the_server(tmp_path: Path) -> None:
    """Two workers: one is killed after loading (respawned, as before), then its replacements
    are SIGKILLed while loading, LOAD_DEATHS_LIMIT times: exit code 3 and one error line naming
    the slot, the count and how the worker died, while the other worker served throughout."""
    with start_server(None, tmp_path, APP, WEB_CONCURRENCY="2") as s:
        s.wait_started(2)
        seen = s.workers()
        assert len(seen) == 2
        victim = min(seen)
        slot = _slot(s, victim)
        os.kill(victim, signal.SIGKILL)  # loaded: respawned
        for _ in range(LOAD_DEATHS_LIMIT):
            os.kill(_new_worker(s, seen), signal.SIGKILL)  # at once: 1.5 s before it is built
        assert s.proc is not None
        s.proc.wait(timeout=10)
        assert s.stop() == EXIT_APP_LOAD
    entries = s.lines()
    [last] = [e for e in entries if e["message"].startswith(f"{slot} died {LOAD_DEATHS_LIMIT}")]
    assert (last["level"], last["logger"]) == ("error", "app.server")
    assert (last["worker"], last["deaths"], last["limit"]) == (slot, LOAD_DEATHS_LIMIT, 3)
    assert last["died"] == "killed by SIGKILL (out of memory?)"
    assert last["message"] == (
        f"{slot} died 3 times in a row before it had loaded the app "
        "(last: killed by SIGKILL (out of memory?)): stopping the server"
    )
    warnings = [e for e in entries if e.get("deaths") in (1, 2)]
    assert [(e["level"], e["deaths"], e["worker"]) for e in warnings] == [
        ("warning", 1, slot),
        ("warning", 2, slot),
    ]
    messages = [e["message"] for e in entries]
    assert "Worker crash loop detected, exiting" not in messages  # respawns within 5.5 s


def test_a_worker_that_loaded_resets_its_slots_count(tmp_path: Path) -> None:
    """Two deaths while loading, then a worker that loads, serves and is killed: it is respawned
    (granian's crash-loop guard still applies to it, so it dies more than 5.5 s after its
    respawn), and two more deaths while loading do not stop the server: the count started
    again. The next worker loads and serves."""
    with start_server(None, tmp_path, APP, WEB_CONCURRENCY="1") as s:
        assert s.proc is not None
        seen = s.workers()
        os.kill(min(seen), signal.SIGKILL)  # the first worker, loaded
        for _ in range(LOAD_DEATHS_LIMIT - 1):
            os.kill(_new_worker(s, seen), signal.SIGKILL)
        loaded = _new_worker(s, seen)
        respawned = time.monotonic()
        _wait_for(lambda: _serves(s, loaded), 10)
        time.sleep(max(0.0, respawned + 5.7 - time.monotonic()))  # past granian's guard
        os.kill(loaded, signal.SIGKILL)
        for _ in range(LOAD_DEATHS_LIMIT - 1):
            os.kill(_new_worker(s, seen), signal.SIGKILL)
        last = _new_worker(s, seen)
        _wait_for(lambda: _serves(s, last), 10)
        assert s.proc.poll() is None, s.text()
        assert s.stop() == 0
    assert _load_messages(s) == [
        f"worker-1 killed by SIGKILL (out of memory?) before it had loaded the app ({n} of 3 in a "
        "row): respawning it"
        for n in (1, 2, 1, 2)
    ]
    assert "Worker crash loop detected, exiting" not in [e["message"] for e in s.lines()]
