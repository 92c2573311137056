"""The service under real gunicorn (the image's server and config) on loopback."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localworld.process import free_port
from tests.app.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"]


def _env(model_dir: Path, port: int, tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "MODEL_SHA256": sha256_of(model_dir / "model.onnx"),
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    env.update(changes)
    return env


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_ready(base: str, proc: subprocess.Popen[bytes], deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            if _get(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not become ready")


def test_gunicorn_serves_predictions_and_aggregates_metrics_across_workers(
    trained_model_dir: Path, tmp_path: Path, digits_data: Any
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [*GUNICORN, "app:create_app()"],
        cwd=ROOT,
        env=_env(trained_model_dir, port, tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, proc)
        data, target = digits_data
        known = [458, 1170, 173, 0, 1, 2]
        status, body = _post(f"{base}/predict", {"instances": data[known].tolist()})
        assert status == 200
        assert body["predictions"] == target[known].tolist()
        for _ in range(20):
            assert _get(f"{base}/healthz")[0] == 200
        _status, metrics = _get(f"{base}/metrics")
        text = metrics.decode()
        assert 'http_requests_total{method="GET",route="/healthz",status="200"} 20.0' in text
        assert 'model_info{name="digits"' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "gunicorn.log").read_text().splitlines()]
    requests = [entry for entry in lines if entry.get("message") == "request"]
    assert requests
    assert all(len(entry["request_id"]) == 32 for entry in requests)
    assert any(entry.get("message") == "model loaded" for entry in lines)


def _post_chunked(port: int, chunks: list[bytes]) -> tuple[int, Any]:
    """POST /predict with `Transfer-Encoding: chunked` (no Content-Length), as proxies may send.

    The body is sent from a thread while the answer is read, like curl does: a server that
    answers 413 early and then closes (as gunicorn does) makes the rest of the upload fail,
    which must not hide the answer.
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


def test_gunicorn_refuses_a_chunked_body_over_the_limit(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """Werkzeug would cut a chunked body at MAX_CONTENT_LENGTH and parse the prefix."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [*GUNICORN, "app:create_app()"],
        cwd=ROOT,
        env=_env(trained_model_dir, port, tmp_path, WEB_CONCURRENCY="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, proc)
        row = b'{"instances": [[' + b",".join([b"0"] * 64) + b"]]}"
        status, body = _post_chunked(port, [row[:10], row[10:]])
        assert (status, len(body["predictions"])) == (200, 1)  # within the limit: served
        megabyte = 1024 * 1024
        # A valid row then 6.5 MB of spaces: Werkzeug alone would parse the first 4 MiB, a 200.
        status, body = _post_chunked(port, [row, *[b" " * megabyte] * 6, b" " * (megabyte // 2)])
        assert status == 413, body
        assert body["error"]["status"] == 413
        # 12 MB of numbers: cut at 4 MiB, the JSON would end early, a 400.
        huge = [b'{"instances": ['] + [b"0," * (megabyte // 2)] * 12 + [b"0]}"]
        status, body = _post_chunked(port, huge)
        assert status == 413, body
        assert body["error"]["status"] == 413
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_gunicorn_refuses_to_start_on_a_sha_mismatch(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    result = subprocess.run(
        [*GUNICORN, "app:create_app()"],
        cwd=ROOT,
        env=_env(trained_model_dir, port, tmp_path, MODEL_SHA256="0" * 64),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stdout + result.stderr


def _workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


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
    Before the bound on work, one 4 MiB body of `{}` parsed into ~1.4M objects (~100 MiB):
    MemoryError (500) here, an OOM-killed worker in the pod."""
    from tests.app.test_predict import worst_case_bodies

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [*GUNICORN, "app:create_app()"],
        cwd=ROOT,
        env=_env(trained_model_dir, port, tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, proc)
        row = {"instances": [[0.0] * 64] * 64}
        for _ in range(20):  # warm every worker thread (malloc arenas, onnxruntime buffers)
            assert _post(f"{base}/predict", row)[0] == 200
        workers = _workers(proc.pid)
        assert len(workers) == 2
        for pid in workers:
            limit = _vm_size(pid) + 128 * 1024 * 1024
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        bodies = list(worst_case_bodies().values()) * 2
        results: list[tuple[int, Any]] = []
        lock = threading.Lock()

        def send(body: bytes) -> None:
            try:
                outcome = _post_raw(port, body)
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
        assert _workers(proc.pid) == workers  # no worker died or was replaced
        assert _post(f"{base}/predict", row)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _raw_exchange(port: int, request: bytes) -> tuple[int, str, bytes]:
    """Send raw bytes, read the whole answer (the server closes): status, content type, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


def test_gunicorn_answers_its_own_protocol_errors_as_json(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """Over-long request lines (414) and headers (431) are refused by gunicorn before the app
    runs; they leave in the same JSON shape as every other error, not as an HTML page."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [*GUNICORN, "app:create_app()"],
        cwd=ROOT,
        env=_env(trained_model_dir, port, tmp_path, WEB_CONCURRENCY="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        long_line = b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        many_headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
        for request, status in [(long_line, 414), (big_header, 431), (many_headers, 431)]:
            answer, content_type, body = _raw_exchange(port, request)
            assert (answer, content_type) == (status, "application/json"), body[:200]
            error = json.loads(body)["error"]
            assert error["status"] == status
            assert error["code"] in {"uri_too_long", "request_header_fields_too_large"}
            assert error["message"]
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_an_idle_worker_still_tells_the_arbiter_it_is_alive(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """The worker notifies the arbiter once a second, not per event (app/gunicorn_worker.py):
    with a 2 s timeout and nothing to do for longer than that, it must not be killed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("wb")
    env = _env(trained_model_dir, port, tmp_path, WEB_CONCURRENCY="1", GUNICORN_TIMEOUT="2")
    proc = subprocess.Popen(
        [*GUNICORN, "app:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_ready(base, proc)
        workers = _workers(proc.pid)
        time.sleep(3.5)
        assert _get(f"{base}/healthz")[0] == 200
        assert _workers(proc.pid) == workers  # the same worker: never timed out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    assert b"WORKER TIMEOUT" not in (tmp_path / "gunicorn.log").read_bytes()
