"""One model store story: every environment's pods read `promotion.yaml`'s `model_store`; the
bot and the nightly release check use that store too (the local world overrides its endpoint
explicitly with AZURE_STORAGE_CONNECTION_STRING or a loopback account URL, as REGISTRY_HOST
overrides `registry.host`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot import api
from bot.adapters.git import GitRepo
from bot.policy import load_policy
from bot.settings import Settings
from bot.wiring import Services, store_mismatch
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from modelstore import ModelStore
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git

TODAY = date(2026, 11, 25)
STAGING = "deploy/overlays/staging/kustomization.yaml"
SHIPPED = load_policy(Path(__file__).resolve().parents[2] / "promotion.yaml").model_store
AZURE = {"GITOPS_REMOTE": "/nowhere", "GITHUB_REPOSITORY": "modelops/gitops"}


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    tag = gw.push_image(gw.init_repo())
    gw.register_model(0.95)
    gw.seed_repo(tag=tag, model_version=1)
    return gw


def _push(world: GitOpsWorld, message: str) -> None:
    git(world.seed, "commit", "-q", "-am", message)
    git(world.seed, "push", "-q", "origin", "main")


def _settings(**env: str) -> Settings:
    return Settings.from_env({**AZURE, **env})


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"MODELSTORE_ACCOUNT_URL": "https://modelopsmodels.blob.core.windows.net"}, None),
        ({"MODELSTORE_ACCOUNT_URL": "https://modelopsmodels.blob.core.windows.net/"}, None),
        (
            {
                "MODELSTORE_ACCOUNT_URL": "https://modelopsmodels.blob.core.windows.net",
                "MODELSTORE_CONTAINER": "models",
            },
            None,
        ),
        (
            {"MODELSTORE_ACCOUNT_URL": "https://modelopsmodelsstg.blob.core.windows.net"},
            "the bot's model store is https://modelopsmodelsstg.blob.core.windows.net/models",
        ),
        (
            {
                "MODELSTORE_ACCOUNT_URL": "https://modelopsmodels.blob.core.windows.net",
                "MODELSTORE_CONTAINER": "staging-models",
            },
            "modelopsmodels.blob.core.windows.net/staging-models (MODELSTORE_ACCOUNT_URL",
        ),
        ({}, "the bot's model store is (none)/models"),
        # the local world: Azurite's endpoint and a container of the settings' choosing
        (
            {
                "MODELSTORE_ACCOUNT_URL": "https://127.0.0.1:10000/devstoreaccount1",
                "MODELSTORE_CONTAINER": "t0",
            },
            None,
        ),
        ({"MODELSTORE_ACCOUNT_URL": "http://localhost:10000/devstoreaccount1"}, None),
        (
            {"MODELSTORE_ACCOUNT_URL": "https://127.0.0.1.example.com/devstoreaccount1"},
            "the bot's model store is https://127.0.0.1.example.com/devstoreaccount1/models",
        ),
        (
            {
                "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                "MODELSTORE_CONTAINER": "t0",
            },
            None,
        ),
    ],
)
def test_the_bot_uses_the_policys_store_unless_the_local_world_overrides_it(
    env: dict[str, str], problem: str | None
) -> None:
    found = store_mismatch(_settings(**env), SHIPPED)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "promotion.yaml model_store" in found and str(SHIPPED) in found


def test_the_release_check_reads_the_policys_store_when_the_bot_names_another(
    tmp_path: Path,
) -> None:
    git(tmp_path, "init", "-q")
    settings = _settings(MODELSTORE_ACCOUNT_URL="https://modelopsmodelsprod.blob.core.windows.net")
    own = ModelStore.from_env(settings.environ)
    services = Services(settings, GitRepo(tmp_path), own)
    pods = services.pods_store(SHIPPED)
    assert pods is not own
    assert pods.backend.endpoint == str(SHIPPED)
    matching = _settings(MODELSTORE_ACCOUNT_URL=SHIPPED.account_url)
    same = ModelStore.from_env(matching.environ)
    assert Services(matching, GitRepo(tmp_path), same).pods_store(SHIPPED) is same


def test_a_release_is_blocked_when_a_pinned_model_is_not_in_the_store_the_pods_read(
    world: GitOpsWorld,
) -> None:
    world.pull()
    overlay = world.seed / STAGING
    text = overlay.read_text()
    overlay.write_text(text.replace("MODEL_VERSION=1", "MODEL_VERSION=7"))
    _push(world, "pin a model version the registry never wrote")
    decision = api.release(world.settings(), today=TODAY)
    assert decision.action == "blocked"
    [problem] = decision.problems
    assert problem.where == STAGING
    assert "digits" in problem.message and "7" in problem.message


def test_a_release_is_blocked_when_an_overlay_reads_its_own_account(world: GitOpsWorld) -> None:
    """The issue's case: staging's pods pointed at `modelopsmodelsstg`, which nothing writes."""
    world.pull()
    overlay = world.seed / STAGING
    marker = (
        "# ===== end of pins. Everything below is environment settings, not touched by the bot.\n"
    )
    text = overlay.read_text()
    assert marker in text
    overlay.write_text(
        text.replace(
            marker,
            marker + "  - name: modelstore\n    behavior: merge\n    literals:\n"
            "      - MODELSTORE_ACCOUNT_URL=https://modelopsmodelsstg.blob.core.windows.net\n",
        )
    )
    _push(world, "staging reads its own model account")
    decision = api.release(world.settings(), today=TODAY)
    assert decision.action == "blocked"
    [problem] = decision.problems
    assert problem.where.endswith(f"{STAGING} (rendered)")
    assert "MODELSTORE_ACCOUNT_URL" in problem.message
    assert "https://modelopsmodelsstg.blob.core.windows.net is not the model store" in (
        problem.message
    )
