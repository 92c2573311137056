"""The real stages of azure-pipelines.yml, run by the test agent on the local world."""

from __future__ import annotations

import json
import re
import tomllib
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from bot.contentcache import PACK_FILE
from bot.core.model import REVISION_LABEL, SIGNATURE_LABEL
from localworld.github import LocalGitHub
from tests.bot.gitops_world import SIGNATURE, GitOpsWorld
from tests.conftest import git
from tests.oci import push_image
from tests.pipelines.conftest import ROOT, Acr, SecureAzurite, make_runner, share_with_agent
from tests.pipelines.runner import AGENT_UID, Agent, Runner, RunResult

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
def test_build_pushes_the_tagged_image_and_smoke_serves_that_digest(
    source: Path, pip_agent: Agent, acr: Acr, run_dir: Path
) -> None:
    runner = make_runner(source=source, agent=pip_agent, work=run_dir, acr=acr)
    result = runner.run(["Build", "Smoke"])  # a push to main, Test not selected
    print(result.explain())
    assert result.stages == {"Build": "Succeeded", "Smoke": "Succeeded"}, result.explain()

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
    workspace = pip_agent.workspace or run_dir / "Build.image"
    assert (workspace / "s" / ".venv").stat().st_uid == AGENT_UID
    # Smoke pulled the published digest and /version named this commit.
    smoke = result.job("Smoke").step("Pull by digest and make smoke")
    assert smoke.as_root  # its script uses sudo (buildah)
    assert f"pulled {acr.login_server}/modelops-app@{digest}" in smoke.log
    assert f'"revision": "{sha}"' in smoke.log
    assert "smoke: ok" in smoke.log
    assert not result.job("Smoke").step("Set up (venv with the trainer, Azurite)").as_root
    assert acr.token not in result.all_logs()
    assert runner.predefined["System.AccessToken"] not in result.all_logs()


# --- the scheduled stages: the promotion bot on the local GitHub, registry and model store ----


def push_with_token(world: GitOpsWorld, acr: Acr, revision: str) -> str:
    """GitOpsWorld.push_image, to the token-auth registry: CI's next build of `revision`."""
    world.build += 1
    tag = f"0.1.0-{world.build}-{revision[:7]}"
    labels = {SIGNATURE_LABEL: SIGNATURE, REVISION_LABEL: revision}
    world.digests[tag] = push_image(acr.registry.url, world.image_repo, tag, labels, acr.auth())
    return tag


@pytest.fixture
def bot_world(
    tmp_path: Path,
    pipeline_github: LocalGitHub,
    acr: Acr,
    secure_azurite: SecureAzurite,
    monkeypatch: pytest.MonkeyPatch,
) -> GitOpsWorld:
    """Dev pinned to build 1 and model 1; build 2 and model 2 are newer (the bot's work)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(secure_azurite.ca_bundle))
    world = GitOpsWorld(tmp_path, pipeline_github, acr.registry, cast(Any, secure_azurite))
    tag1 = push_with_token(world, acr, world.init_repo())
    world.register_model(0.95)
    world.seed_repo(tag=tag1, model_version=1)
    push_with_token(world, acr, world.app_commit("app: faster predict"))
    world.register_model(0.96)
    share_with_agent(world.remote)
    return world


def bot_run(
    world: GitOpsWorld,
    azurite: SecureAzurite,
    source: Path,
    agent: Agent,
    acr: Acr,
    work: Path,
    schedule: str,
) -> tuple[Runner, RunResult]:
    groups = {
        "modelops-bot": {
            "GITHUB_TOKEN": (world.github.token, True),
            "GITHUB_API_URL": (world.github.url, False),
            "MODELSTORE_ACCOUNT_URL": (azurite.blob_endpoint, False),
            "MODELSTORE_CONTAINER": (world.container, False),
            "BOT_LOCK_CONTAINER": (world.lock_container, False),
        }
    }
    # github.com, as this machine reaches it: the local GitHub's repository path.
    url = f"https://github.com/{world.repo_name}.git"
    environment = {
        **agent.environment,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{world.remote}.insteadOf",
        "GIT_CONFIG_VALUE_0": url,
        "REQUESTS_CA_BUNDLE": str(azurite.ca_bundle),  # the agent trusts the local CA
        "SSL_CERT_FILE": str(azurite.ca_bundle),
    }
    runner = make_runner(
        source=source,
        agent=replace(agent, environment=environment),
        work=work,
        acr=acr,
        groups=groups,
        overrides={
            "Build.Reason": "Schedule",
            "Build.CronSchedule.DisplayName": schedule,
            "Build.Repository.Name": world.repo_name,
            "Build.Repository.Uri": f"https://github.com/{world.repo_name}",
        },
    )
    return runner, runner.run()


def _no_secret_leaked(runner: Runner, result: RunResult, world: GitOpsWorld) -> None:
    logs = result.all_logs()
    assert world.github.token not in logs
    assert runner.predefined["System.AccessToken"] not in logs
    # Every step ran as the agent's user: nothing in the bot's stages needs root.
    assert not [s.name for j in result.jobs for s in j.steps if s.as_root]


@pytest.mark.slow
def test_hourly_schedule_runs_only_promote_and_the_bot_opens_the_dev_pr(
    bot_world: GitOpsWorld,
    secure_azurite: SecureAzurite,
    source: Path,
    pip_agent: Agent,
    acr: Acr,
    run_dir: Path,
) -> None:
    world = bot_world
    since = world.github.last_seq()
    runner, result = bot_run(
        world, secure_azurite, source, pip_agent, acr, run_dir, "Hourly promotion"
    )
    print(result.explain())
    assert result.stages == {
        "Test": "Skipped",
        "Build": "Skipped",
        "Smoke": "Skipped",
        "Promote": "Succeeded",
        "Release": "Skipped",
    }, result.explain()
    pulls = [r for r in world.github.writes(since) if r["path"].endswith("/pulls")]
    assert [p["method"] for p in pulls] == ["POST"]
    overlay = world.overlay_on("promote/dev", "dev")
    assert world.digests["0.1.0-2-" + world.head()[:7]] in overlay
    # then the dashboard issue, and the report published as an artifact
    issues = [r for r in world.github.writes(since) if r["path"].endswith("/issues")]
    assert [i["method"] for i in issues] == ["POST"]
    report = (result.artifacts["promotion-report"] / "index.html").read_text()
    assert '<table id="matrix">' in report
    # the bot's parse cache (Cache@2): a miss on this fresh agent, saved after the job, and
    # holding only parse results (pins and policy as JSON), never a secret
    job = result.job("Promote")
    assert "Cache miss." in job.step("Restore the bot's parse cache").log
    assert "Cache saved" in job.step("Post-job: Restore the bot's parse cache").log
    saved = [p for p in runner.cache_dir.rglob("content/**/*") if p.is_file()]
    kinds = {p.parent.name for p in saved}
    assert kinds == {"pins-v1", "policy-v1"}, kinds
    # one JSON file per entry, plus the pins' pack (one JSON object) the next process reads first
    assert all(p.suffix == ".json" or p.name == PACK_FILE for p in saved), saved
    assert all(json.loads(p.read_text()) is not None for p in saved)
    for secret in (world.github.token, runner.predefined["System.AccessToken"]):
        assert not [p for p in saved if secret in p.read_text()]
    _no_secret_leaked(runner, result, world)


@pytest.mark.slow
def test_nightly_schedule_runs_only_release_and_moves_the_dev_release_branch(
    bot_world: GitOpsWorld,
    secure_azurite: SecureAzurite,
    source: Path,
    pip_agent: Agent,
    acr: Acr,
    run_dir: Path,
) -> None:
    world = bot_world
    runner, result = bot_run(
        world, secure_azurite, source, pip_agent, acr, run_dir, "Nightly release"
    )
    print(result.explain())
    assert result.stages["Release"] == "Succeeded", result.explain()
    assert [s for s, r in result.stages.items() if r != "Skipped"] == ["Release"]
    # dev ships first; staging and prod wait for dev's cluster to confirm (issue 14)
    assert (
        git(world.remote, "rev-parse", "refs/heads/release/dev").strip()
        == git(world.remote, "rev-parse", "refs/heads/main").strip()
    )
    _no_secret_leaked(runner, result, world)
