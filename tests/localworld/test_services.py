"""The local world answers the real protocols: Blob via the Azure SDK, OCI distribution, git."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import requests
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.storage.blob import BlobServiceClient

from localworld.errors import ServiceStartError
from localworld.process import ServiceProcess, free_port, pid_alive
from localworld.services import Azurite, Registry
from tests.conftest import git
from tests.oci import OCI_MANIFEST, image_manifest, put_manifest


def test_azurite_creates_container_and_refuses_second_create_only_upload(azurite: Azurite):
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = client.create_container("lw-conditional")
    blob = container.get_blob_client("manifest.json")
    first = blob.upload_blob(b'{"v": 1}', overwrite=False)
    with pytest.raises(ResourceExistsError):
        blob.upload_blob(b'{"v": 2}', overwrite=False)
    assert blob.download_blob().readall() == b'{"v": 1}'
    # If-Match with the current ETag succeeds, with a stale one fails.
    blob.upload_blob(
        b'{"v": 3}',
        overwrite=True,
        etag=first["etag"],
        match_condition=MatchConditions.IfNotModified,
    )
    with pytest.raises(ResourceModifiedError):
        blob.upload_blob(
            b'{"v": 4}',
            overwrite=True,
            etag=first["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    assert blob.download_blob().readall() == b'{"v": 3}'


def test_registry_accepts_oci_image_and_reports_tags_and_digest(registry: Registry):
    base, repo = registry.url, "lw/tiny"
    # config and layer blobs over the upload API, then an OCI image manifest that names them
    manifest = image_manifest(base, repo, {"org.opencontainers.image.revision": "abc123"})
    expected = "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert put_manifest(base, repo, "1.0.0", manifest) == expected

    tags = requests.get(f"{base}/v2/{repo}/tags/list", timeout=10).json()
    assert tags == {"name": repo, "tags": ["1.0.0"]}
    head = requests.head(
        f"{base}/v2/{repo}/manifests/1.0.0", headers={"Accept": OCI_MANIFEST}, timeout=10
    )
    assert head.headers["Docker-Content-Digest"] == expected
    config_digest = json.loads(manifest)["config"]["digest"]
    got_config = requests.get(f"{base}/v2/{repo}/blobs/{config_digest}", timeout=10).json()
    assert got_config["config"]["Labels"]["org.opencontainers.image.revision"] == "abc123"


def test_bare_remote_accepts_a_push(tmp_path: Path, bare_remote: Path):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("hello\n")
    git(work, "add", "README")
    git(work, "commit", "-q", "-m", "first")
    git(work, "remote", "add", "origin", str(bare_remote))
    git(work, "push", "-q", "origin", "main")
    head = git(work, "rev-parse", "HEAD").strip()
    assert git(bare_remote, "rev-parse", "refs/heads/main").strip() == head


def test_service_that_exits_reports_its_name_and_log_tail(tmp_path: Path):
    proc = ServiceProcess(
        name="broken",
        argv=[sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
        log_path=tmp_path / "broken.log",
        ready=lambda: False,
        start_timeout=10,
    )
    with pytest.raises(ServiceStartError) as info:
        proc.start()
    assert info.value.name == "broken"
    assert "exited with code 3" in str(info.value)
    assert "boom: bad config" in info.value.log_tail


def test_service_that_never_answers_times_out_and_is_stopped(tmp_path: Path):
    proc = ServiceProcess(
        name="silent",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "silent.log",
        ready=lambda: False,
        start_timeout=0.5,
    )
    with pytest.raises(ServiceStartError, match="not ready after"):
        proc.start()
    assert proc.pid is not None
    assert not pid_alive(proc.pid)


def test_free_port_is_bindable_on_loopback():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
