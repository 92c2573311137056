"""The Azure Repos forge's tests: a repository on the local Azure Repos (real bare
repositories; every exchange validated against Microsoft's published 7.1 specifications by the
`azure_repos` fixture) and a forge on it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.adapters.azure_repos import (
    AzureReposForge,
)
from bot.core.policy import Reviewer
from bot.forge import PullRequest
from localworld.azure_repos import LocalAzureRepos
from tests.conftest import AZURE_REPOS_TEST_TOKEN, git


@pytest.fixture
def repo(azure_repos: LocalAzureRepos, tmp_path: Path) -> tuple[str, Path]:
    """`modelops/<name>` with main and promote/dev (one commit ahead); the work tree."""
    name = f"modelops/r{uuid.uuid4().hex[:8]}"
    remote = azure_repos.create_repo(name)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "f").write_text("1\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "first")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "promote/dev")
    (work / "f").write_text("2\n")
    git(work, "commit", "-q", "-am", "promote dev\n\nbody")
    git(work, "push", "-q", "origin", "promote/dev")
    return name, work


def forge_on(
    azure_repos: LocalAzureRepos,
    name: str,
    *,
    reviewers_required: bool = True,
    bot_identity: str | None = None,
) -> AzureReposForge:
    return AzureReposForge(
        azure_repos.url,
        AZURE_REPOS_TEST_TOKEN,
        name,
        backoff_factor=0,
        reviewers_required=reviewers_required,
        bot_identity=bot_identity,
    )


def open_pr(
    forge: AzureReposForge, labels: Sequence[str] = (), reviewers: Sequence[Reviewer] = ()
) -> PullRequest:
    return forge.create_pr(
        title="promote(dev)",
        body="the body",
        head="promote/dev",
        base="main",
        labels=labels,
        reviewers=reviewers,
    )
