"""The service under its real server (`python -m app.server`: granian, as the image runs it) on
loopback: metrics across workers, JSON logs, body limits, memory, startup failures, and what
granian answers itself before the app runs."""

from __future__ import annotations

import http.client
import io
import json
import resource
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localworld.process import free_port
from tests.app.serverproc import (
    ROOT,
    SERVER,
    get,
    post,
    raw_exchange,
    server_env,
    start_server,
)

ROW = {"instances": [[0.0] * 64] * 64}


def _healthz_counts(directory: Path) -> dict[int, float]:
    """GET /healthz 200s counted by each worker (pid), from its Prometheus multiprocess file."""
    from prometheus_client.mmap_dict import MmapedDict

    counts = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        counts[pid] = sum(
            value
            for key, value, *_rest in MmapedDict.read_all_values_from_file(str(path))
            if '"http_requests_total"' in key and '"/healthz"' in key and '"GET"' in key
        )
    return counts


def _listening_inodes(port: int) -> set[int]:
    """The inodes of the TCP sockets listening on `port` (any address)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    links = (str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return {int(link[8:-1]) for link in links if link.startswith("socket:[")}


def test_serves_predictions_and_aggregates_metrics_across_workers(
    trained_model_dir: Path, tmp_path: Path, digits_data: Any
) -> None:
    with start_server(trained_model_dir, tmp_path) as server:
        server.wait_started(2)
        workers = server.workers()
        assert len(workers) == 2
        # granian on Linux: one SO_REUSEPORT listening socket per worker (not one shared
        # socket): the docs and the retired GUNICORN_REUSE_PORT's message say so.
        listening = _listening_inodes(server.port)
        assert len(listening) == 2
        assert [len(_socket_inodes(pid) & listening) for pid in workers] == [1, 1]
        data, target = digits_data
        known = [458, 1170, 173, 0, 1, 2]
        status, body = post(f"{server.base}/predict", {"instances": data[known].tolist()})
        assert status == 200
        assert body["predictions"] == target[known].tolist()
        # The .npy answer under granian: its headers and bytes as the app makes them.
        packed = io.BytesIO()
        np.save(packed, data[known].astype("<f4"))
        npy_status, headers, answer = raw_exchange(
            server.port,
            b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-npy\r\n"
            b"Accept: application/x-npy\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(packed.getvalue())
            + packed.getvalue(),
        )
        assert (npy_status, headers["content-type"]) == (200, "application/x-npy")
        assert (headers["x-model-name"], headers["x-model-version"]) == ("digits", "1")
        assert int(headers["content-length"]) == len(answer)
        loaded = np.load(io.BytesIO(answer), allow_pickle=False)
        assert loaded["label"].tolist() == body["predictions"]
        np.testing.assert_array_equal(
            loaded["probabilities"], np.array(body["probabilities"], dtype=np.float32)
        )
        # One connection each: the kernel spreads new connections over the workers' sockets.
        sent = 0
        while sent < 20 or min(_healthz_counts(tmp_path / "prom").get(w, 0) for w in workers) == 0:
            assert get(f"{server.base}/healthz")[0] == 200
            sent += 1
            assert sent < 500, _healthz_counts(tmp_path / "prom")
        _status, metrics = get(f"{server.base}/metrics")
        text = metrics.decode()
        total = f'http_requests_total{{method="GET",route="/healthz",status="200"}} {sent}.0'
        assert total in text
        assert 'model_info{name="digits"' in text
        assert server.stop() == 0
    lines = server.lines()  # every line is JSON, granian's own included
    requests = [entry for entry in lines if entry.get("message") == "request"]
    assert len(requests) >= 23
    assert all(len(entry["request_id"]) == 32 for entry in requests)
    assert sum(entry.get("message") == "model loaded" for entry in lines) == 2
    granian = [entry for entry in lines if entry["logger"].startswith("_granian")]
    assert any(entry["message"].startswith("Listening at: http://127.0.0.1:") for entry in granian)
    assert any("shutdown completed" in entry["message"] for entry in granian)
    assert all(entry["ts"].endswith("Z") and entry["level"] for entry in granian)


def test_log_level_is_honoured_by_granian_and_the_app(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    with start_server(trained_model_dir, tmp_path, WEB_CONCURRENCY="1", LOG_LEVEL="warning") as s:
        assert get(f"{s.base}/healthz")[0] == 200
        assert s.stop() == 0
    # Neither granian's start-up lines nor the app's request lines are at warning or above.
    assert [entry for entry in s.lines() if entry["level"] in {"debug", "info"}] == []


def _post_chunked(port: int, chunks: list[bytes]) -> tuple[int, Any]:
    """POST /predict with `Transfer-Encoding: chunked` (no Content-Length), as proxies may send.

    The body is sent from a thread while the answer is read, like curl does: a server that
    answers 413 early and then closes makes the rest of the upload fail, which must not hide
    the answer.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )

    def send() -> None:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading after it answered

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())
    finally:
        sender.join(timeout=30)
        sock.close()


def test_a_chunked_body_over_the_limit_is_refused(trained_model_dir: Path, tmp_path: Path) -> None:
    """granian streams a body to the app as it reads it (wsgi.input_terminated); Werkzeug alone
    would cut a chunked body at MAX_CONTENT_LENGTH and parse the prefix."""
    with start_server(trained_model_dir, tmp_path, WEB_CONCURRENCY="1") as server:
        row = b'{"instances": [[' + b",".join([b"0"] * 64) + b"]]}"
        status, body = _post_chunked(server.port, [row[:10], row[10:]])
        assert (status, len(body["predictions"])) == (200, 1)  # within the limit: served
        megabyte = 1024 * 1024
        # A valid row then 6.5 MB of spaces: Werkzeug alone would parse the first 4 MiB, a 200.
        status, body = _post_chunked(
            server.port, [row, *[b" " * megabyte] * 6, b" " * (megabyte // 2)]
        )
        assert status == 413, body
        assert body["error"]["status"] == 413
        # 12 MB of numbers: cut at 4 MiB, the JSON would end early, a 400.
        huge = [b'{"instances": ['] + [b"0," * (megabyte // 2)] * 12 + [b"0]}"]
        status, body = _post_chunked(server.port, huge)
        assert status == 413, body
        assert body["error"]["status"] == 413
        assert post(f"{server.base}/predict", ROW)[0] == 200


def test_refuses_to_start_on_a_sha_mismatch_and_stops_promptly(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """Each worker verifies the model; one that cannot stops the whole server (exit 3) instead
    of being respawned."""
    env = server_env(trained_model_dir, free_port(), tmp_path, MODEL_SHA256="0" * 64)
    started = time.monotonic()
    result = subprocess.run(
        SERVER, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert time.monotonic() - started < 15
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    [failure, *_] = [entry for entry in lines if entry["message"].startswith("worker could not")]
    assert "sha256 mismatch" in failure["message"]
    assert failure["level"] == "error" and "ModelLoadError" in failure["exception"]
    assert any(entry["message"].endswith("stopping the server") for entry in lines)
    assert not any(entry["message"].startswith("Respawning") for entry in lines)


def _vm_size(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmSize for {pid}")


def _post_raw(port: int, body: bytes) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_eight_concurrent_worst_case_bodies_get_4xx_within_a_worker_memory_budget(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """The deployment gives the pod 512 Mi for 2 workers; each worker here may grow by at most
    128 MiB of address space past its warmed-up size (RLIMIT_AS, set on the running workers).
    granian does not buffer a body before the app runs: it hands the app a stream, read into
    memory up to MAX_CONTENT_LENGTH, so eight 4 MiB bodies at once are not held twice."""
    from tests.app.test_predict import worst_case_bodies

    with start_server(trained_model_dir, tmp_path) as server:
        for _ in range(20):  # warm each worker (malloc arenas, onnxruntime buffers, tokio)
            assert post(f"{server.base}/predict", ROW)[0] == 200
        workers = server.workers()
        assert len(workers) == 2
        for pid in workers:
            limit = _vm_size(pid) + 128 * 1024 * 1024
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        bodies = list(worst_case_bodies().values()) * 2
        results: list[tuple[int, Any]] = []
        lock = threading.Lock()

        def send(body: bytes) -> None:
            try:
                outcome = _post_raw(server.port, body)
            except (OSError, http.client.HTTPException) as exc:  # e.g. the worker died
                outcome = (0, repr(exc))
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(results) == 8
        assert sorted(status for status, _ in results) == [413] * 8, results
        assert server.workers() == workers  # no worker died or was replaced
        assert post(f"{server.base}/predict", ROW)[0] == 200


def test_what_granian_answers_itself_before_the_app(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """hyper refuses a malformed request, more than 100 headers or a head past ~400 KiB with
    an empty body (not the service's JSON shape): in the pod nginx stands in front and none of
    these reach granian (tests/deploy/test_proxy.py). Long lines gunicorn refused (414, 431 past
    4 KiB / 8 KiB) are served."""
    with start_server(trained_model_dir, tmp_path, WEB_CONCURRENCY="1") as server:
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
        refused = {
            b"GARBAGE\r\n\r\n": 400,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\x01b\r\n\r\n": 400,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n": 431,
            b"GET /healthz?" + b"a" * 600_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n": 431,
        }
        for request, status in refused.items():
            answer, headers, body = raw_exchange(server.port, request)
            assert (answer, body, headers["connection"]) == (status, b"", "close"), request[:40]
        served = [
            b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many[: many.index(b"X-H99")] + b"\r\n",
        ]
        for request in served:
            answer, headers, body = raw_exchange(server.port, request)
            assert (answer, headers["content-type"]) == (200, "application/json"), body[:200]
        assert get(f"{server.base}/healthz")[0] == 200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GUNICORN_THREADS": "2"},
            "GUNICORN_THREADS is no longer read: the server is granian now; use SERVER_THREADS",
        ),
        ({"GUNICORN_TIMEOUT": "30"}, "use SERVER_TIMEOUT"),
        ({"GUNICORN_GRACEFUL_TIMEOUT": "20"}, "use SERVER_GRACEFUL_TIMEOUT"),
        ({"GUNICORN_REUSE_PORT": "0"}, "has no equivalent (granian's workers always bind one"),
        ({"GUNICORN_KEEPALIVE": "5"}, "has no equivalent (granian closes a connection idle"),
        ({"GUNICORN_WORKERS": "4"}, "see app/README.md for the SERVER_* settings"),
        ({"SERVER_TIMEOUT": "soon"}, "SERVER_TIMEOUT='soon' is not an integer"),
        ({"SERVER_TIMEOUT": "1"}, "SERVER_TIMEOUT=1 must be 0 (off) or at least 2"),
        ({"SERVER_THREADS": "0"}, "SERVER_THREADS=0 must be at least 1"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY=0 must be at least 1"),
        ({"BIND": "8080"}, "BIND='8080' must be IP:PORT"),
        ({"BIND": "127.0.0.1:\u00b2"}, "must be IP:PORT"),  # str.isdigit() says yes to it
        ({"BIND": "localhost:8080"}, "it does not resolve a name"),
        ({"BIND": " :8080"}, "it does not resolve a name"),
        ({"BIND": "::1:8080"}, "an IPv6 address goes in brackets"),
        ({"BIND": "[::1:8080"}, "it does not resolve a name"),
        ({"BIND": "[127.0.0.1]:8080"}, "an IPv6 address goes in brackets"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"LOG_LEVEL": ""}, "LOG_LEVEL must be one of"),  # as the app's settings refuse it
    ],
)
def test_main_refuses_a_retired_or_malformed_setting(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    from app import server

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(server, "serve", _must_not_serve)
    assert server.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("error", "app.server")
    assert message in entry["message"], entry


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("app:no_such_factory", "app has no callable 'no_such_factory'"),
        ("app:create_app()", "is not MODULE:FACTORY"),
        ("no_such_module:app", "No module named 'no_such_module'"),
    ],
)
def test_main_refuses_an_unknown_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    from app import server

    monkeypatch.setattr(server, "serve", _must_not_serve)
    assert server.main([target]) == 2
    assert message in json.loads(capsys.readouterr().err)["message"]


def _must_not_serve(*_args: object) -> int:
    raise AssertionError("the server started")


@pytest.mark.parametrize(
    ("bind", "host", "port"),
    [
        ("0.0.0.0:8080", "0.0.0.0", 8080),  # noqa: S104 (parsed, not bound)
        ("127.0.0.1:8081", "127.0.0.1", 8081),
        ("[::]:8080", "::", 8080),
        ("[::1]:65535", "::1", 65535),
    ],
)
def test_bind_takes_ipv4_and_bracketed_ipv6(bind: str, host: str, port: int) -> None:
    from app.server import load_server_settings

    settings = load_server_settings({"BIND": bind})
    assert (settings.host, settings.port) == (host, port)


def test_a_bind_that_cannot_be_listened_on_is_one_json_line_and_exit_2(tmp_path: Path) -> None:
    """A port already taken (or an address not this host's): one JSON error naming BIND, not
    granian's traceback (with a Rust backtrace under RUST_BACKTRACE=1) and exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVER, "tests.app.server_apps:sleepy_app"],
            cwd=ROOT,
            env=server_env(None, port, tmp_path, RUST_BACKTRACE="1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("error", "app.server")
    assert entry["message"].startswith(f"cannot listen on BIND=127.0.0.1:{port}: ")
    assert "in use" in entry["message"]
    assert all(json.loads(line) for line in result.stdout.splitlines())


def test_the_process_exits_2_on_a_retired_setting_before_binding(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        SERVER,
        cwd=ROOT,
        env=server_env(None, port, tmp_path, GUNICORN_THREADS="2"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "use SERVER_THREADS" in json.loads(result.stderr)["message"]
    assert not (tmp_path / "prom").exists()  # it stopped before touching anything
