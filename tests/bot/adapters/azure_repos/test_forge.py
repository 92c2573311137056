"""The forge built from a pipeline's variables (`bot.adapters.azure_repos.forge`)."""

from __future__ import annotations

from bot.adapters.azure_repos import (
    AzureReposForge,
)
from bot.adapters.forges import make_forge
from bot.settings import Settings
from tests.conftest import AZURE_REPOS_BOT, AZURE_REPOS_TEST_TOKEN


def test_the_factory_builds_it_from_a_pipeline_s_variables(azure_repos):
    env = {
        "GITOPS_REMOTE": "/srv/gitops.git",
        "BOT_FORGE": "azure-repos",
        "SYSTEM_COLLECTIONURI": azure_repos.url + "/",
        "SYSTEM_TEAMPROJECT": "modelops",
        "BUILD_REPOSITORY_NAME": "gitops",
        "SYSTEM_ACCESSTOKEN": AZURE_REPOS_TEST_TOKEN,
    }
    settings = Settings.from_env(env)
    assert (settings.repository, settings.forge_api_url) == ("modelops/gitops", azure_repos.url)
    assert AZURE_REPOS_TEST_TOKEN in settings.secrets()
    forge = make_forge(settings)
    assert isinstance(forge, AzureReposForge)
    assert forge.identity() is None
    told = Settings.from_env({**env, "AZURE_REPOS_BOT_IDENTITY": AZURE_REPOS_BOT})
    assert make_forge(told).identity() == AZURE_REPOS_BOT
    assert (forge.name, forge.wiql_team, forge.reviewers_required) == (
        "Azure Repos",
        "modelops Team",
        True,
    )


def test_its_own_account_is_the_identity_it_is_told_and_nothing_when_not_told():
    """Azure Repos authors a completion by whoever completes it: the bot's own completion
    names its identity; a person's names the person (docs/decisions.md 24)."""
    told = AzureReposForge("http://127.0.0.1:9", "t", "p/r", bot_identity="Bot@Contoso.com")
    assert told.is_own_account("bot@contoso.com")
    assert not told.is_own_account("ann@contoso.com")
    assert not told.is_own_account("1+bot@users.noreply.github.com")
    assert not AzureReposForge("http://127.0.0.1:9", "t", "p/r").is_own_account("bot@contoso.com")
