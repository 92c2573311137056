"""The real stages of azure-pipelines.yml, run by the test agent on the local world."""

from __future__ import annotations

import json
import re
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.conftest import ROOT, Acr, make_runner
from tests.pipelines.runner import AGENT_UID, Agent

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


def _get(url: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(response.headers), response.read()


def registry_image(acr: Acr, repository: str, tag: str) -> tuple[str, dict[str, Any]]:
    """(digest, config) of repository:tag as the registry serves it."""
    base = acr.registry.url
    headers, body = _get(
        f"{base}/v2/{repository}/manifests/{tag}", {**acr.auth(), "Accept": MANIFEST_TYPES}
    )
    manifest = json.loads(body)
    _, config = _get(f"{base}/v2/{repository}/blobs/{manifest['config']['digest']}", acr.auth())
    return headers["Docker-Content-Digest"], json.loads(config)


@pytest.mark.slow
def test_build_stage_pushes_the_tagged_image_and_publishes_its_digest(
    source: Path, pip_agent: Agent, acr: Acr, run_dir: Path
) -> None:
    runner = make_runner(source=source, agent=pip_agent, work=run_dir, acr=acr)
    result = runner.run(["Build"])
    assert result.stages == {"Build": "Succeeded"}, result.explain()
    print(result.explain())

    job = result.job("Build")
    sha = runner.predefined["Build.SourceVersion"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    tag = f"{version}-4711-{sha[:7]}"
    assert job.variables.get("imageTag") == tag

    # The published artifact names exactly what the registry holds under that tag.
    artifact = result.artifacts["image"]
    digest = (artifact / "digest").read_text().strip()
    registry_digest, config = registry_image(acr, "modelops-app", tag)
    assert digest == registry_digest
    assert (artifact / "image.env").read_text() == (
        f"IMAGE_REF={acr.login_server}/modelops-app:{tag}@{digest}\n"
    )
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.source"] == "https://github.com/team/modelops"
    assert labels["io.modelops.model.input-signature"] == "input:float32[?,64]"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"]
    )
    assert labels["com.azure.dev.image.build.sourceversion"] == sha

    # Steps ran as the agent's user; the ACR token never reached a log.
    wheelhouse = job.step("Wheelhouse (runtime wheels pinned to the installed versions)")
    assert not wheelhouse.as_root
    assert (run_dir / "Build.image" / "s" / ".venv").stat().st_uid == AGENT_UID
    assert acr.token not in result.all_logs()
    assert runner.predefined["System.AccessToken"] not in result.all_logs()
