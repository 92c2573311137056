"""The pod's front door as the Deployment runs it: nginx with deploy/base/nginx.conf in front of
the real app server (`python -m app.server`: granian, the Deployment's command). The configuration
is used unmodified except the listen address, the upstream port and the scratch directory,
pointed at this test's loopback ports and temp dir."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localworld.pod_proxy import CONF, nginx_argv, write_config
from localworld.process import free_port
from tests.app.serverproc import ROOT, SERVER, raw_exchange, server_env

SLOW_CLIENTS = 16
ROW = {"instances": [[0.0] * 64]}


@dataclass
class Pod:
    proxy_port: int
    app_port: int


def _wait(port: int, path: str, proc: subprocess.Popen[bytes], deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if _request(port, "GET", path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"nothing answered {path} on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def pod(trained_model_dir: Path, tmp_path: Path) -> Iterator[Pod]:
    app_port, proxy_port = free_port(), free_port()
    # BIND 127.0.0.1:app_port, as the Deployment binds 127.0.0.1:8081; two workers
    env = server_env(trained_model_dir, app_port, tmp_path)
    conf = write_config(proxy_port, app_port, tmp_path / "nginx")
    app_log = (tmp_path / "server.log").open("wb")
    proxy_log = (tmp_path / "nginx.log").open("wb")
    server = subprocess.Popen(
        SERVER,
        cwd=ROOT,
        env=env,
        stdout=app_log,
        stderr=subprocess.STDOUT,
    )
    nginx = subprocess.Popen(
        nginx_argv(conf),
        stdout=proxy_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(app_port, "/readyz", server)
        _wait(proxy_port, "/proxy-healthz", nginx)
        yield Pod(proxy_port, app_port)
    finally:
        _stop(nginx)
        _stop(server)
        app_log.close()
        proxy_log.close()


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


class SlowClients:
    """Connections that send headers with a Content-Length, then drip the body a byte at a time
    (each within nginx's 10 s body timeout), never finishing while the test runs."""

    def __init__(self, port: int, count: int) -> None:
        self.stop = threading.Event()
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            self.socks.append(sock)
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        while not self.stop.wait(0.5):
            for sock in self.socks:
                with contextlib.suppress(OSError):  # the server may have closed it
                    sock.sendall(b" ")

    def alive(self) -> int:
        """How many are still connected (the server has not closed them)."""
        count = 0
        for sock in self.socks:
            sock.setblocking(False)
            try:
                count += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                count += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return count

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.socks:
            sock.close()


def test_health_and_predictions_keep_answering_while_slow_clients_hold_connections(
    pod: Pod, digits_data: Any
) -> None:
    """Four slow clients used to take every app thread (then gunicorn's 2 workers x 2 threads):
    /healthz timed out for 40 s and the liveness probe would have restarted the pod (issue 16.6)."""
    data, target = digits_data
    known = [458, 1170, 173, 0, 1, 2]  # rows the example model classifies correctly
    slow = SlowClients(pod.proxy_port, SLOW_CLIENTS)
    try:
        time.sleep(1.0)  # let them settle on the server
        started = time.monotonic()
        checks = 0
        while time.monotonic() - started < 6:
            # The probes' own timeout is 2 s (deploy/base/deployment.yaml).
            status, _, _ = _request(pod.proxy_port, "GET", "/healthz", timeout=2)
            assert status == 200
            status, _, body = _request(
                pod.proxy_port,
                "POST",
                "/predict",
                json.dumps({"instances": data[known].tolist()}).encode(),
                {"Content-Type": "application/json"},
                timeout=2,
            )
            assert status == 200
            assert json.loads(body)["predictions"] == target[known].tolist()
            checks += 1
        assert checks >= 6
        assert slow.alive() == SLOW_CLIENTS  # they were really still connected
    finally:
        slow.close()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /healthz?" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: pod\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: pod\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            400,
            "bad_request",
        ),
        (
            b"POST /predict HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000\r\n\r\n",
            413,
            "request_entity_too_large",
        ),
        (b"GET /he\x01lthz HTTP/1.1\r\nHost: pod\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: p\x01od\r\n\r\n", 400, "bad_request"),
    ],
)
def test_refusals_before_the_app_are_json_too(
    pod: Pod, request_bytes: bytes, status: int, code: str
) -> None:
    with socket.create_connection(("127.0.0.1", pod.proxy_port), timeout=10) as sock:
        sock.sendall(request_bytes)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    assert (response.status, response.getheader("Content-Type")) == (status, "application/json")
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (status, code)


def _many_headers(count: int) -> bytes:
    return b"".join(b"X-H%d: v\r\n" % i for i in range(count))


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # Past nginx's line buffer (8 KiB) it is nginx's 414 above; below, granian serves it.
        (b"GET /healthz?" + b"a" * 6000 + b" HTTP/1.1\r\nHost: pod\r\n\r\n", 200),
        # granian alone answers these with an empty 431 / 400 (tests/app/test_server.py):
        # nginx passes on only the headers the app reads, in a form granian takes.
        (b"GET /healthz HTTP/1.1\r\nHost: pod\r\n" + _many_headers(150) + b"\r\n", 200),
        (b"GET /healthz HTTP/1.1\r\nHost: pod\r\nX-Request-ID: a\x01b\r\n\r\n", 200),
        (b"GET /healthz HTTP/1.1\r\nHost: pod\r\nX-Other: a\x7fb\r\n\r\n", 200),
        (b"GET /healthz HTTP/1.1\r\nHost: pod\r\nX-Forwarded-For: a\x01b\r\n\r\n", 200),
        (
            b"POST /predict HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\x01\r\n"
            b"Content-Length: 2\r\n\r\n{}",
            415,  # the app's own answer: the unusable media type was dropped
        ),
    ],
)
def test_what_granian_would_refuse_itself_never_reaches_it(
    pod: Pod, request_bytes: bytes, status: int
) -> None:
    """Every answer through the proxy is JSON in the service's shape: granian's own refusals
    (empty bodies) cannot be caused from outside the pod."""
    with socket.create_connection(("127.0.0.1", pod.proxy_port), timeout=10) as sock:
        sock.sendall(request_bytes)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    assert (response.status, response.getheader("Content-Type")) == (status, "application/json")
    assert json.loads(body)
    if status != 200:
        assert json.loads(body)["error"]["status"] == status


def test_the_proxy_passes_request_ids_and_chunked_bodies_through(
    pod: Pod, digits_data: Any
) -> None:
    data, target = digits_data
    known = [458, 1170, 173]
    body = json.dumps({"instances": data[known].tolist()}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", pod.proxy_port, timeout=10)
    try:
        conn.putrequest("POST", "/predict")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("X-Request-ID", "trace-123")
        conn.endheaders()
        for start in range(0, len(body), 100):
            chunk = body[start : start + 100]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200
    assert response.getheader("X-Request-ID") == "trace-123"
    assert answer["predictions"] == target[known].tolist()


def test_the_proxy_passes_accept_and_the_npy_answer_through(pod: Pod, digits_data: Any) -> None:
    """`Accept` reaches the app (it picks /predict's answer), only in a form granian takes and
    at most 256 bytes long; the `.npy` answer and its model headers come back unchanged."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, digits_data[0][:5].astype("<f4"))
    body = buffer.getvalue()

    def predict(port: int, accept: bytes) -> tuple[int, dict[str, str], bytes]:
        head = (
            b"POST /predict HTTP/1.1\r\nHost: pod\r\nContent-Type: application/x-npy\r\n"
            b"Accept: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (accept, len(body))
        )
        return raw_exchange(port, head + body)

    status, headers, proxied = predict(pod.proxy_port, b"application/x-npy")
    assert (status, headers["content-type"]) == (200, "application/x-npy")
    assert (headers["x-model-name"], headers["x-model-version"]) == ("digits", "1")
    assert proxied == predict(pod.app_port, b"application/x-npy")[2]
    answer = np.load(io.BytesIO(proxied), allow_pickle=False)
    assert answer["label"].tolist() == digits_data[1][:5].tolist()
    # q-values pass as they are
    preferred = b"application/json;q=0.5, application/x-npy"
    assert predict(pod.proxy_port, preferred)[1]["content-type"] == "application/x-npy"
    # A control character (granian's 400) or a value past 256 bytes is dropped: JSON.
    long = b"application/x-npy, " + b"a/b;q=0.1, " * 30
    assert predict(pod.app_port, long)[1]["content-type"] == "application/x-npy"
    for accept in (b"application/x-npy\x01", long):
        status, headers, text = predict(pod.proxy_port, accept)
        assert (status, headers["content-type"]) == (200, "application/json")
        assert json.loads(text)["predictions"] == answer["label"].tolist()


def _nginx_version() -> tuple[int, ...]:
    from localworld.pod_proxy import NGINX

    banner = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)", banner)
    assert found, banner
    return tuple(int(part) for part in found.groups())


def test_what_a_client_behind_the_proxy_gets_for_odd_accept_headers(
    pod: Pod, digits_data: Any
) -> None:
    """As app/README.md says: an `Accept` nginx does not pass (past 256 bytes, a control
    character) or granian does not (non-ASCII bytes: an empty value) is JSON, never an error;
    of two `Accept` lines nginx before 1.23 passes the first alone, where granian (and nginx
    from 1.23) joins them."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, digits_data[0][:2].astype("<f4"))
    body = buffer.getvalue()

    def answer(port: int, accept_lines: bytes) -> tuple[int, str]:
        head = (
            b"POST /predict HTTP/1.1\r\nHost: pod\r\nContent-Type: application/x-npy\r\n"
            + accept_lines
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        status, headers, _ = raw_exchange(port, head + body)
        return status, headers["content-type"]

    npy, json_ = (200, "application/x-npy"), (200, "application/json")
    at_most = b"application/x-npy, " + b"a" * (256 - 19)
    assert len(at_most) == 256
    for accept, proxied in [
        (at_most, npy),
        (at_most + b"a", json_),  # 257 bytes: dropped
        (b"application/x-npy;\tq=1", npy),  # a tab is no control character here
        (b"application/x-npy\x7f", json_),
        (b"application/x-npy, text/\xc3\xa9", json_),  # granian: HTTP_ACCEPT is ''
    ]:
        assert answer(pod.proxy_port, b"Accept: %s\r\n" % accept) == proxied, accept
    two = b"Accept: application/json;q=0.1\r\nAccept: application/x-npy\r\n"
    assert answer(pod.app_port, two) == npy  # granian joins the lines: x-npy is preferred
    first_only = answer(pod.proxy_port, b"Accept: application/json;q=0.1\r\n")
    assert first_only == json_
    assert answer(pod.proxy_port, two) == (first_only if _nginx_version() < (1, 23) else npy)


def test_the_proxys_request_id_rule_is_the_apps() -> None:
    """nginx.conf passes on an `X-Request-ID` only by the app's own rule (app/hooks.py), which
    it has to spell out again: the two copies must not drift apart."""
    from app.hooks import _CLEAN_ID

    found = re.search(
        r'map \$http_x_request_id \$app_request_id \{\s*"~([^"]+)" \$http_x_request_id;',
        CONF.read_text(),
    )
    assert found is not None
    assert found.group(1) == _CLEAN_ID.pattern


def test_the_deployment_wires_the_proxy_as_this_test_runs_it() -> None:
    """The rendered base runs nginx with this config on the Service's port and the app server
    (`python -m app.server`, as this test runs it) on the loopback port the config proxies to;
    probes reach the app through the proxy."""
    from bot.overlay.render import parse_rendered, render

    objs = parse_rendered(render(ROOT / "deploy" / "base"))
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    proxy, app = containers["proxy"], containers["app"]
    config_map = next(o for o in objs if o["kind"] == "ConfigMap" and "nginx.conf" in o["data"])
    assert config_map["data"]["nginx.conf"] == CONF.read_text()
    mounts = {m["name"]: m["mountPath"] for m in proxy["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes[next(n for n, p in mounts.items() if p == "/etc/nginx-proxy")]["configMap"]["name"]
        == config_map["metadata"]["name"]
    )
    assert proxy["command"][:3] == ["nginx", "-c", "/etc/nginx-proxy/nginx.conf"]
    assert "emptyDir" in volumes[next(n for n, p in mounts.items() if p == "/tmp")]
    assert proxy["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert "listen 8080;" in CONF.read_text()
    assert {"name": "BIND", "value": "127.0.0.1:8081"} in app["env"]
    assert app["command"] == ["python", "-m", "app.server"]
    assert "args" not in app
    assert "server 127.0.0.1:8081;" in CONF.read_text()
    assert "ports" not in app
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert app[probe]["httpGet"]["port"] == 8080
    assert proxy["livenessProbe"]["httpGet"]["path"] == "/proxy-healthz"
    service = next(o for o in objs if o["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_autoscaler_counts_the_service_containers_cpu_not_the_proxys() -> None:
    """The proxy's own CPU (bench/README.md) must not make the pods scale out earlier."""
    from bot.overlay.render import parse_rendered, render

    for env in ("dev", "staging", "prod"):
        objs = parse_rendered(render(ROOT / "deploy" / "overlays" / env))
        hpa = next(o for o in objs if o["kind"] == "HorizontalPodAutoscaler")
        deployment = next(o for o in objs if o["kind"] == "Deployment")
        names = {c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]}
        [metric] = hpa["spec"]["metrics"]
        assert metric["type"] == "ContainerResource", env
        assert metric["containerResource"]["name"] == "cpu"
        assert metric["containerResource"]["container"] == "app"
        assert {"app", "proxy"} <= names


def _pre_stop(container: dict[str, Any], scratch: Path) -> list[str] | None:
    """The container's preStop command, its /tmp/ paths pointed at `scratch` as
    localworld.pod_proxy points the config's."""
    hook = container.get("lifecycle", {}).get("preStop")
    if hook is None:
        return None
    return [part.replace("/tmp/", f"{scratch}/") for part in hook["exec"]["command"]]


def test_pod_termination_lets_requests_in_flight_and_arriving_meanwhile_finish(
    tmp_path: Path,
) -> None:
    """The kubelet stops a pod's containers at once: each one's preStop hook, then SIGTERM. nginx
    takes SIGTERM as its fast shutdown: without the hooks a request in flight was cut at once
    (the client saw the connection close with no answer) however long granian would have
    waited for it. With them, nginx keeps accepting while the endpoint removal spreads, then
    stops gracefully (SIGQUIT); the app gets SIGTERM only after that."""
    from bot.overlay.render import parse_rendered, render

    objs = parse_rendered(render(ROOT / "deploy" / "base"))
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    pod_spec = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod_spec["containers"]}
    app_port, proxy_port = free_port(), free_port()
    scratch = tmp_path / "nginx"
    conf = write_config(proxy_port, app_port, scratch)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = server_env(None, app_port, tmp_path, WEB_CONCURRENCY="1", SLEEPY_APP_MARKS=str(marks))
    log = (tmp_path / "pod.log").open("wb")
    procs = {
        "app": subprocess.Popen(
            [*SERVER, "tests.app.server_apps:sleepy_app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        "proxy": subprocess.Popen(
            nginx_argv(conf), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        ),
    }
    try:
        _wait(app_port, "/healthz", procs["app"])
        _wait(proxy_port, "/proxy-healthz", procs["proxy"])
        answers: dict[str, object] = {}

        def ask(name: str, path: str) -> None:
            try:
                answers[name] = _request(proxy_port, "GET", path, timeout=30)[0]
            except (OSError, http.client.HTTPException) as exc:
                answers[name] = exc

        # Still running when nginx quits (5 s) and when the app gets SIGTERM (7 s).
        in_flight = threading.Thread(target=ask, args=("in flight", "/sleep?seconds=8"))
        in_flight.start()
        deadline = time.monotonic() + 10
        while not any(marks.iterdir()):  # the request is in the app
            assert time.monotonic() < deadline
            time.sleep(0.05)

        def kubelet_stops(name: str) -> None:
            command = _pre_stop(containers[name], scratch)
            if command is not None:
                subprocess.run(command, timeout=30, check=False)
            if name == "proxy":
                os.killpg(procs[name].pid, signal.SIGTERM)
            else:
                procs[name].send_signal(signal.SIGTERM)

        stoppers = [threading.Thread(target=kubelet_stops, args=(n,)) for n in ("app", "proxy")]
        for stopper in stoppers:
            stopper.start()
        time.sleep(1)  # a request sent while the endpoint removal spreads
        arriving = threading.Thread(target=ask, args=("arriving", "/healthz"))
        arriving.start()
        for thread in (in_flight, arriving, *stoppers):
            thread.join(timeout=40)
        assert answers == {"in flight": 200, "arriving": 200}
        for proc in procs.values():
            assert proc.wait(timeout=30) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
