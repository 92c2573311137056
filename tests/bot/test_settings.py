"""Settings: neutral forge names, the forge's own names kept working, clear errors."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError

BASE = {"GITOPS_REMOTE": "/srv/gitops.git"}


def test_the_forges_own_variables_keep_working():
    settings = Settings.from_env(
        {
            **BASE,
            "GITHUB_REPOSITORY": "team/gitops",
            "GITHUB_API_URL": "http://127.0.0.1:9/api",
            "GITHUB_TOKEN": "t0ken-github",
        }
    )
    assert (settings.forge, settings.repository) == ("github", "team/gitops")
    assert (settings.forge_api_url, settings.forge_token) == (
        "http://127.0.0.1:9/api",
        "t0ken-github",
    )


def test_neutral_names_win_over_the_forges_own():
    settings = Settings.from_env(
        {
            **BASE,
            "GITHUB_REPOSITORY": "ci/sets-this",
            "FORGE_REPOSITORY": "team/gitops",
            "GITHUB_TOKEN": "t0ken-github",
            "FORGE_TOKEN": "t0ken-forge",
            "FORGE_API_URL": "http://127.0.0.1:9/api",
        }
    )
    assert settings.repository == "team/gitops"
    assert settings.forge_token == "t0ken-forge"
    assert settings.forge_api_url == "http://127.0.0.1:9/api"
    assert "t0ken-forge" in settings.secrets()


def test_github_is_the_default_forge_with_its_public_api():
    settings = Settings.from_env({"FORGE_REPOSITORY": "team/gitops"})
    assert settings.forge_api_url == "https://api.github.com"
    assert settings.gitops_remote == "https://github.com/team/gitops.git"
    assert settings.forge_name == "GitHub"


def test_flags_override_the_environment():
    settings = Settings.from_env(
        {**BASE, "GITHUB_REPOSITORY": "team/gitops"},
        repository="other/repo",
        forge_api_url="http://127.0.0.1:9/api",
    )
    assert (settings.repository, settings.forge_api_url) == ("other/repo", "http://127.0.0.1:9/api")


def test_an_unknown_forge_is_refused_naming_the_known_ones():
    with pytest.raises(
        SettingsError, match=r"BOT_FORGE: unknown forge 'gitea' \(known: azure-repos, github\)"
    ):
        Settings.from_env({**BASE, "BOT_FORGE": "gitea", "GITHUB_REPOSITORY": "team/gitops"})


def test_a_missing_token_names_the_variable_users_know():
    settings = Settings.from_env({**BASE, "GITHUB_REPOSITORY": "team/gitops"})
    with pytest.raises(SettingsError, match=r"GITHUB_TOKEN is not set .*FORGE_TOKEN works too"):
        settings.require_token()


def test_a_malformed_repository_is_refused():
    with pytest.raises(
        SettingsError,
        match=r"GITHUB_REPOSITORY \(or FORGE_REPOSITORY\) must be owner/name, got 'gitops'",
    ):
        Settings.from_env({**BASE, "FORGE_REPOSITORY": "gitops"})


def test_the_token_is_not_in_repr():
    settings = Settings.from_env({**BASE, "GITHUB_REPOSITORY": "a/b", "FORGE_TOKEN": "t0ken-x"})
    assert "t0ken-x" not in repr(settings)
