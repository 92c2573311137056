"""The server's process lifecycle (`python -m app.server`, granian) with a small app that can be
told to take its time (tests/app/server_apps.py): graceful SIGTERM, the request watchdog that
replaces gunicorn's worker timeout, and an app that cannot start after a respawn."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.app.serverproc import ServerProcess, get, start_server

APP = "tests.app.server_apps:sleepy_app"


def _get_in_thread(server: ServerProcess, path: str) -> tuple[threading.Thread, list[object]]:
    """GET `path` from a thread; its outcome (status and body, or the exception) lands in the
    list."""
    outcome: list[object] = []

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            outcome.append((response.status, response.read()))
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _sleeping(marks: Path, count: int) -> None:
    """Until `count` /sleep requests in all have entered the app (tests/app/server_apps.py)."""
    _wait_for(lambda: len(list(marks.iterdir())) >= count, 10)


def _answers(server: ServerProcess) -> bool:
    """Whether a worker answers /healthz. With one worker, nothing listens while it is being
    replaced (each worker has its own SO_REUSEPORT socket): the connection is refused."""
    try:
        return get(f"{server.base}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def _wait_for(predicate: Callable[[], object], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _marks(tmp_path: Path) -> Path:
    marks = tmp_path / "marks"
    marks.mkdir()
    return marks


@contextmanager
def _sleeping_at_sigterm(
    tmp_path: Path, graceful_timeout: str, seconds: float
) -> Iterator[tuple[ServerProcess, threading.Thread, list[object]]]:
    """One worker with `SERVER_GRACEFUL_TIMEOUT`, one request to /sleep for `seconds` already
    in the app: the server, the request's thread and its outcome (see `_get_in_thread`)."""
    marks = _marks(tmp_path)
    with start_server(
        None,
        tmp_path,
        APP,
        WEB_CONCURRENCY="1",
        SERVER_GRACEFUL_TIMEOUT=graceful_timeout,
        SLEEPY_APP_MARKS=str(marks),
    ) as s:
        thread, outcome = _get_in_thread(s, f"/sleep?seconds={seconds}")
        _sleeping(marks, 1)
        yield s, thread, outcome


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    with _sleeping_at_sigterm(tmp_path, "5", 1.5) as (s, thread, outcome):
        started = time.monotonic()
        assert s.stop() == 0
        thread.join(timeout=10)
        assert outcome == [(200, b"slept")]
        assert 0.3 < time.monotonic() - started < 4  # it waited for the request, not longer
    assert not any("refused to gracefully stop" in entry["message"] for entry in s.lines())


def test_sigterm_kills_a_request_past_the_graceful_timeout(tmp_path: Path) -> None:
    with _sleeping_at_sigterm(tmp_path, "1", 20) as (s, thread, outcome):
        started = time.monotonic()
        assert s.stop() == 0
        assert time.monotonic() - started < 4  # SERVER_GRACEFUL_TIMEOUT, then the worker is killed
        thread.join(timeout=10)
        assert len(outcome) == 1 and isinstance(outcome[0], Exception)
    assert any("refused to gracefully stop" in entry["message"] for entry in s.lines())


def test_the_watchdog_replaces_a_worker_stuck_in_a_request_and_leaves_idle_ones(
    tmp_path: Path,
) -> None:
    """SERVER_TIMEOUT is gunicorn's worker timeout: an idle worker lives on past it; a request
    running longer ends its worker (with an error line naming it), and granian starts a new one
    that serves the next requests."""
    with start_server(None, tmp_path, APP, WEB_CONCURRENCY="1", SERVER_TIMEOUT="2") as s:
        [worker] = s.workers()
        time.sleep(2.5)  # idle for longer than the timeout
        assert get(f"{s.base}/pid") == (200, str(worker).encode())
        thread, outcome = _get_in_thread(s, "/sleep?seconds=20")
        thread.join(timeout=10)
        assert len(outcome) == 1 and isinstance(outcome[0], Exception)  # the worker was ended
        _wait_for(lambda: s.workers() and s.workers() != {worker}, 10)
        _wait_for(lambda: _answers(s), 10)
        [replacement] = s.workers()
        assert get(f"{s.base}/pid") == (200, str(replacement).encode())
        assert s.stop() == 0
    [timed_out] = [e for e in s.lines() if e["message"].startswith("request timed out")]
    assert (timed_out["level"], timed_out["logger"]) == ("error", "app.server")
    assert (timed_out["method"], timed_out["path"], timed_out["pid"]) == ("GET", "/sleep", worker)
    assert 2 < timed_out["seconds"] < 4
    assert "_sleep" in timed_out["stack"]  # where the request was stuck


def test_a_worker_ended_by_the_watchdog_is_replaced_again_soon_after_its_respawn(
    tmp_path: Path,
) -> None:
    """Two stuck requests in a row on the same worker, the second within 5.5 s of its respawn:
    granian's crash-loop guard took that for a crash loop and stopped the whole server (exit
    1); a watchdog ending is not a crash, so the worker is replaced again."""
    marks = _marks(tmp_path)
    with start_server(
        None, tmp_path, APP, WEB_CONCURRENCY="1", SERVER_TIMEOUT="2", SLEEPY_APP_MARKS=str(marks)
    ) as s:
        proc = s.proc
        assert proc is not None
        seen = s.workers()

        def replaced_or_exited() -> bool:
            return proc.poll() is not None or bool(s.workers() - seen)

        for round_ in (1, 2):
            _wait_for(lambda: _answers(s), 10)  # the (new) worker listens
            thread, outcome = _get_in_thread(s, "/sleep?seconds=20")
            _sleeping(marks, round_)
            thread.join(timeout=10)
            assert len(outcome) == 1 and isinstance(outcome[0], Exception)
            _wait_for(replaced_or_exited, 10)
            assert proc.poll() is None, s.text()
            seen.update(s.workers())
        _wait_for(lambda: _answers(s), 10)
        assert s.stop() == 0
    messages = [entry["message"] for entry in s.lines()]
    assert sum(m.startswith("request timed out") for m in messages) == 2
    assert "Worker crash loop detected, exiting" not in messages


def test_a_worker_that_cannot_start_after_a_respawn_stops_the_server(tmp_path: Path) -> None:
    """A replacement worker whose app cannot start (the model no longer verifies, say) stops the
    server with exit code 3 instead of being respawned (granian's crash-loop guard would stop
    it only within 5.5 s of a respawn, with exit code 1)."""
    flag = tmp_path / "fail"
    with start_server(
        None, tmp_path, APP, WEB_CONCURRENCY="1", SERVER_TIMEOUT="2", SLEEPY_APP_FAIL_IF=str(flag)
    ) as s:
        flag.touch()
        _get_in_thread(s, "/sleep?seconds=20")
        assert s.proc is not None
        s.proc.wait(timeout=15)
        assert s.stop() == 3
    messages = [entry["message"] for entry in s.lines()]
    assert any(
        m.startswith("worker could not start the app: the app cannot start") for m in messages
    )
    assert "worker-1 could not start the app: stopping the server" in messages
    assert "Worker crash loop detected, exiting" not in messages
