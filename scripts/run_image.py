"""Run a released image the way its pod would, without a container daemon.

`buildah pull` fetches the image by digest from the registry (the exact bytes the overlay
pins), `buildah run --isolation chroot` runs the init container's command
(`python3 -m app.fetch_model`) into a shared directory and then the image's own command
(its config's Cmd) on loopback, like the Deployment's two containers sharing an emptyDir.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localworld.process import free_port
from scripts.build_image import storage_args, tls_verify_flag

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "digits"
STORE_KEYS = ("AZURE_STORAGE_CONNECTION_STRING", "MODELSTORE_ACCOUNT_URL", "MODELSTORE_CONTAINER")


class RunImageError(Exception):
    """A step of running the image failed."""


@dataclass
class Served:
    """What the running image answered (`lines` narrate it)."""

    lines: list[str] = field(default_factory=list)
    version: dict[str, Any] = field(default_factory=dict)
    predictions: list[int] = field(default_factory=list)
    scored_top1: list[str] = field(default_factory=list)
    expected: list[int] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.predictions == self.expected and self.scored_top1 == [
            str(label) for label in self.expected
        ]


def buildah(cache: Path, *args: str, timeout: float = 300) -> str:
    """Run buildah on the project's image storage under `cache`; stdout, or RunImageError."""
    result = subprocess.run(
        ["buildah", *storage_args(cache), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RunImageError(f"buildah {args[0]}: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def _http(url: str, payload: Any = None) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data)  # noqa: S310 (loopback only)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return resp.status, json.loads(resp.read())


def run_in_image_argv(
    cache: Path, container: str, argv: list[str], env: Mapping[str, str], volume: str
) -> list[str]:
    """`buildah run --isolation chroot`: the image's own filesystem and user, no daemon."""
    flags = ["run", "--isolation", "chroot", "--volume", volume]
    for key, value in env.items():
        flags += ["--env", f"{key}={value}"]
    return ["buildah", *storage_args(cache), *flags, container, "--", *argv]


def by_digest_reference(image: str) -> str:
    """`host:port/repo:tag@sha256:…` -> `host:port/repo@sha256:…` (buildah takes one or the
    other; the digest is what the overlay pins)."""
    name, at, digest = image.partition("@")
    if not at:
        raise RunImageError(f"{image} is not pinned by digest")
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        last[-1] = last[-1].split(":", 1)[0]
    return "/".join(last) + "@" + digest


def predict_with_image(
    *,
    image: str,
    cache: Path,
    model_name: str,
    model_version: str,
    model_sha256: str,
    env: Mapping[str, str],
    workdir: Path,
    authfile: Path | None = None,
) -> Served:
    """Fetch the pinned model with the image's init command, serve it, classify test digits.
    `authfile`: the registry credentials (a containers auth.json), if it needs any."""
    said: list[str] = []
    by_digest = by_digest_reference(image)
    auth = ["--authfile", str(authfile)] if authfile else []
    buildah(cache, "pull", "--quiet", *auth, tls_verify_flag(by_digest), f"docker://{by_digest}")
    said.append(f"pulled {by_digest} (the pinned digest, not the tag)")
    container = buildah(cache, "from", "--pull=never", "--quiet", by_digest)
    try:
        config = json.loads(buildah(cache, "inspect", "--type", "container", container))
        command: list[str] = config["OCIv1"]["config"]["Cmd"]
        models = workdir / "models"
        models.mkdir(parents=True)
        models.chmod(0o777)  # like the pod's emptyDir, writable by the image's non-root user
        pin = {
            "MODEL_NAME": model_name,
            "MODEL_VERSION": model_version,
            "MODEL_SHA256": model_sha256,
        }
        store = {k: env[k] for k in STORE_KEYS if k in env}
        init = subprocess.run(
            run_in_image_argv(
                cache,
                container,
                ["python3", "-m", "app.fetch_model"],
                {**store, **pin},
                f"{models}:/models",
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if init.returncode != 0:
            raise RunImageError(f"init container failed: {init.stderr.strip()[-2000:]}")
        said.append(f"init container fetched and verified {model_name} v{model_version}")
        port = free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                run_in_image_argv(
                    cache,
                    container,
                    command,
                    {**pin, "BIND": f"127.0.0.1:{port}"},
                    f"{models}:/models:ro",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            served = _exercise(f"http://127.0.0.1:{port}", server, log_path)
            served.lines[:0] = said
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        subprocess.run(
            ["buildah", *storage_args(cache), "rm", container], capture_output=True, check=False
        )
    return served


def _exercise(base: str, server: subprocess.Popen[bytes], log_path: Path) -> Served:
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            raise RunImageError(f"service exited: {log_path.read_text()[-2000:]}")
        try:
            if _http(f"{base}/readyz")[0] == 200:
                break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RunImageError(f"service not ready after 90s: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    served = Served()
    said = served.lines
    said.append(f"the server (granian) is ready on {base}")
    version = _http(f"{base}/version")[1]
    served.version = version
    said.append(f"GET /version -> {json.dumps(version, sort_keys=True)}")
    expected = json.loads((DATA / "expected.json").read_text())
    names = sorted(expected)[:3]
    images = [base64.b64encode((DATA / n).read_bytes()).decode() for n in names]
    scored = _http(f"{base}/score", {"input": images})[1]
    served.expected = [int(expected[n]["label"]) for n in names]
    served.scored_top1 = [str(top3[0][0]) for top3 in scored["result"]]
    for name, top3 in zip(names, scored["result"], strict=True):
        said.append(f"POST /score {name} (labelled {expected[name]['label']}) -> top-3 {top3}")
    from sklearn.datasets import load_digits  # the bundled dataset the model was trained on

    rows = [load_digits().data[expected[n]["index"]].tolist() for n in names]
    predicted = _http(f"{base}/predict", {"instances": rows})[1]
    served.predictions = [int(p) for p in predicted["predictions"]]
    said.append(
        f"POST /predict {len(rows)} rows -> predictions {predicted['predictions']} "
        f"(expected {[expected[n]['label'] for n in names]}), model {predicted.get('model')}"
    )
    return served
