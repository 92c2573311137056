"""The real image: built by buildah from the Dockerfile, pushed to a real registry, then run.

The build is the session's `service_image` (tests/conftest.py: `make image`'s build_and_push of
this checkout, once per session; tests/scripts/test_smoke.py smoke-tests the same image).

How the image is exercised without a container daemon: `buildah run --isolation chroot` starts
the image's own command (its config's Cmd, User, Env and WorkingDir, read back from the built
image) inside the image's root filesystem, with the image's Python and packages and nothing from
the host but the kernel and the loopback network. That is the same process tree a container
runtime would start, minus namespaces/cgroups, which is what makes it runnable here. The init
container's command (`python -m app.fetch_model`) runs first the same way, fetching the model
from Azurite into a mounted directory, like the pod's emptyDir.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from examples.train import register
from localworld.process import free_port
from scripts.build_image import storage_args
from scripts.run_image import buildah, run_in_image_argv
from tests.conftest import ServiceImage

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "digits"
CACHE = ROOT / "build" / "image"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


def _http(url: str, payload: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback only)
        return resp.status, dict(resp.headers), resp.read()


def _buildah(*args: str, timeout: float = 120) -> str:
    return buildah(CACHE, *args, timeout=timeout)


def _labels_via_registry(
    registry_url: str, repository: str, tag: str
) -> tuple[str, dict[str, Any]]:
    status, headers, body = _http(
        f"{registry_url}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    assert status == 200
    manifest = json.loads(body)
    config_digest = manifest["config"]["digest"]
    _, _, config = _http(f"{registry_url}/v2/{repository}/blobs/{config_digest}")
    return headers["Docker-Content-Digest"], json.loads(config)


def _run_in_image(
    container: str, argv: list[str], env: dict[str, str], volume: str, **popen: Any
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(run_in_image_argv(CACHE, container, argv, env, volume), **popen)


@pytest.mark.slow
def test_image_builds_pushes_declares_its_signature_and_serves_digits(
    service_image: ServiceImage,
    registry: Any,
    azurite: Any,
    trained_model_dir: Path,
    tmp_path: Path,
) -> None:
    spec, revision = service_image.spec, service_image.spec.revision
    assert (
        revision
        == subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    assert service_image.digest.startswith("sha256:")

    # 1. What the bot sees through the registry's API: digest and labels.
    digest, config = _labels_via_registry(registry.url, spec.repository, spec.tag)
    assert digest == service_image.digest
    labels = config["config"]["Labels"]
    assert labels["io.modelops.model.input-signature"] == "input:float32[?,64]"
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.source"] == spec.source
    assert labels["org.opencontainers.image.created"] == spec.created
    image_config = config["config"]
    assert image_config["User"] == "10001:10001"
    assert image_config["Healthcheck"]["Test"][0] == "CMD"
    command: list[str] = image_config["Cmd"]
    assert command == ["python", "-m", "app.server"]  # granian (app/server.py)
    # The pod runs the same command (tested here), with the image's defaults for the rest.
    from bot.overlay.render import parse_rendered, render

    objs = parse_rendered(render(ROOT / "deploy" / "base"))
    pod_spec = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    app_container = next(c for c in pod_spec["containers"] if c["name"] == "app")
    assert app_container["command"] == command
    assert "args" not in app_container

    container = _buildah("from", "--pull=never", spec.reference)
    try:
        # 2. The final image carries no compiler, no pip, no wheelhouse, no pip cache.
        rootfs = Path(_buildah("mount", container))
        assert not (rootfs / "usr/bin/gcc").exists()
        assert not (rootfs / "usr/bin/cc").exists()
        assert not (rootfs / "wheels").exists()
        assert not list((rootfs / "opt/venv").glob("lib/python3*/site-packages/pip"))
        assert not (rootfs / "root/.cache/pip").exists()
        assert (rootfs / "opt/venv/lib/python3.11").is_dir()
        _buildah("umount", container)

        # 3. The init container: fetch the registered model from Azurite as the image's user.
        model_store = {
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "MODELSTORE_CONTAINER": f"image-{uuid.uuid4().hex[:10]}",
        }
        with pytest.MonkeyPatch.context() as patch:
            for key, value in model_store.items():
                patch.setenv(key, value)
            patch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
            manifest = register(trained_model_dir, "digits", {"accuracy": 0.97})
        models = tmp_path / "models"
        models.mkdir()
        models.chmod(0o777)  # like the pod's emptyDir, writable by the non-root user
        pin = {
            "MODEL_NAME": "digits",
            "MODEL_VERSION": str(manifest.version),
            "MODEL_SHA256": manifest.primary_sha256,
        }
        init = _run_in_image(
            container,
            ["python3", "-m", "app.fetch_model"],
            {**model_store, **pin},
            f"{models}:/models",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _out, err = init.communicate(timeout=120)
        assert init.returncode == 0, err.decode()
        assert (models / "model.onnx").stat().st_uid == 10001

        # 4. The image's own command, on loopback.
        port = free_port()
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            server = _run_in_image(
                container,
                command,
                {**pin, "BIND": f"127.0.0.1:{port}"},
                f"{models}:/models:ro",
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log_path.read_text()[-3000:]
                try:
                    if _http(f"{base}/readyz")[0] == 200:
                        break
                except (urllib.error.URLError, OSError):
                    pass
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)

            version = json.loads(_http(f"{base}/version")[2])
            assert version["app"]["revision"] == revision
            assert version["app"]["version"] == "0.1.0"
            assert version["model"]["sha256"] == manifest.primary_sha256
            assert version["model"]["version"] == manifest.version

            expected = json.loads((DATA / "expected.json").read_text())
            names = sorted(expected)
            images = [base64.b64encode((DATA / n).read_bytes()).decode() for n in names]
            scored = json.loads(_http(f"{base}/score", {"input": images})[2])
            assert [top3[0][0] for top3 in scored["result"]] == [
                str(expected[n]["label"]) for n in names
            ]

            from sklearn.datasets import load_digits

            digits = load_digits()
            rows = [digits.data[expected[n]["index"]].tolist() for n in names]
            predicted = json.loads(_http(f"{base}/predict", {"instances": rows})[2])
            assert predicted["predictions"] == [expected[n]["label"] for n in names]

            metrics = _http(f"{base}/metrics")[2].decode()
            assert 'route="/score",status="200"' in metrics
            # Every line the server wrote is JSON, granian's own included; the only other
            # lines are onnxruntime's C++ logger's (a telemetry warning on a read-only root).
            written = log_path.read_text().splitlines()
            logged = [json.loads(line) for line in written if line.startswith("{")]
            assert all("onnxruntime" in line for line in written if not line.startswith("{"))
            assert any(e["message"].startswith("Listening at: http://") for e in logged)
            assert any(e["message"] == "model loaded" for e in logged)

            # 5. The pod's proxy container: the image's nginx with the shipped config (only its
            # ports pointed at this test's loopback ports), in front of the server above.
            _check_proxy_container(container, port, tmp_path)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        subprocess.run(
            ["buildah", *storage_args(CACHE), "rm", container], capture_output=True, check=False
        )


def _check_proxy_container(container: str, app_port: int, tmp_path: Path) -> None:
    from bot.overlay.render import parse_rendered, render
    from localworld.pod_proxy import CONF, render_config

    objs = parse_rendered(render(ROOT / "deploy" / "base"))
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    proxy = next(c for c in pod["containers"] if c["name"] == "proxy")
    config_dir = tmp_path / "proxy-config"
    config_dir.mkdir()
    proxy_port = free_port()
    # In the image /tmp is the container's own, as the pod's emptyDir: only the ports change.
    (config_dir / "nginx.conf").write_text(
        render_config(CONF.read_text(), proxy_port, app_port, Path("/tmp"))
    )
    log_path = tmp_path / "proxy.log"
    with log_path.open("wb") as log:
        nginx = _run_in_image(
            container,
            proxy["command"],
            {},
            f"{config_dir}:/etc/nginx-proxy:ro",
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{proxy_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert nginx.poll() is None, log_path.read_text()[-3000:]
            try:
                if _http(f"{base}/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        status, headers, _ = _http(f"{base}/predict", {"instances": [[0.0] * 64]})
        assert status == 200
        # granian sends header names in lower case (HTTP/1.1 names are case-insensitive).
        assert "x-request-id" in {name.lower() for name in headers}
        # More headers than granian takes (100): only those the app reads get past nginx.
        many = {f"X-H{i}": "v" for i in range(150)}
        status, headers, _ = _http(f"{base}/healthz", headers={**many, "X-Request-ID": "img-1"})
        assert (status, headers.get("x-request-id")) == (200, "img-1")
    finally:
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(timeout=30)
