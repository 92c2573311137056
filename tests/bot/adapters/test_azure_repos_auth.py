"""Git over https to Azure Repos with the bearer token as a header
(`bot.adapters.azure_repos_auth`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.adapters.azure_repos_auth import git_header_env, install_git_bearer_header
from bot.settings import Settings
from tests.conftest import git


def test_git_gets_the_bearer_token_as_a_header_for_an_https_remote_never_in_the_url(
    tmp_path: Path,
):
    remote = "https://dev.azure.com/contoso/modelops/_git/gitops"
    env = {
        "GITOPS_REMOTE": remote,
        "BOT_FORGE": "azure-repos",
        "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
        "SYSTEM_TEAMPROJECT": "modelops",
        "BUILD_REPOSITORY_NAME": "gitops",
        "SYSTEM_ACCESSTOKEN": "job-token",
    }
    target = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "1"}
    assert install_git_bearer_header(Settings.from_env(env), target)
    assert target["GIT_CONFIG_COUNT"] == "3"  # after what was there
    # git itself reads it: the header for that origin only, the reset first
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    found = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraHeader", remote],
        cwd=repo,
        env={**os.environ, **target},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == "Authorization: Bearer job-token"
    assert all("job-token" not in v for k, v in target.items() if k.startswith("GIT_CONFIG_KEY"))
    entra = {**env, "AZURE_REPOS_AUTH": "entra", "SYSTEM_ACCESSTOKEN": ""}
    minted = git_header_env(Settings.from_env(entra), {}, entra=lambda: lambda: "entra-token")
    assert minted["GIT_CONFIG_VALUE_1"] == "Authorization: Bearer entra-token"
    for other in (
        {**env, "GITOPS_REMOTE": "/srv/gitops.git"},
        {**env, "BOT_FORGE": "github", "GITHUB_REPOSITORY": "a/b", "GITHUB_TOKEN": "t"},
    ):
        assert git_header_env(Settings.from_env(other), {}) == {}
