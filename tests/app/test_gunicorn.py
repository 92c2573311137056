"""The service under real gunicorn (the image's server and config) on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
