"""The GitHub adapter's commit statuses against the local GitHub (contract-checked)."""

from __future__ import annotations

import pytest

from bot.adapters.github import GitHubForge
from bot.forge import CommitStatus, ForgeError, StatusState
from localworld.github import LocalGitHub
from tests.bot.adapters.test_github import repo_name  # noqa: F401 - the fixture
from tests.conftest import git


def _forge(github: LocalGitHub, repo: str) -> GitHubForge:
    return GitHubForge(github.url, github.token, repo, backoff_factor=0.01)


def test_statuses_are_created_and_listed_newest_first(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    forge = _forge(github, repo_name)
    sha = git(github.remote_path(repo_name), "rev-parse", "main").strip()
    assert forge.list_statuses(sha) == []
    pending = CommitStatus("deploy/dev", StatusState.PENDING, "rolling out")
    created = forge.create_status(sha, pending)
    assert (created.context, created.state, created.description) == (
        "deploy/dev",
        StatusState.PENDING,
        "rolling out",
    )
    done = CommitStatus(
        "deploy/dev", StatusState.SUCCESS, "rolled out", target_url="https://ci.example/run/1"
    )
    forge.create_status(sha, done)
    listed = forge.list_statuses("main")  # a branch names its head commit
    assert [(s.context, s.state) for s in listed] == [
        ("deploy/dev", StatusState.SUCCESS),
        ("deploy/dev", StatusState.PENDING),
    ]
    assert listed[0].target_url == "https://ci.example/run/1"
    assert listed[0].created_at is not None
    assert {s.creator for s in listed} == {"localworld-bot"}  # the token's user


def test_a_status_on_an_unknown_commit_is_a_forge_error(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    forge = _forge(github, repo_name)
    with pytest.raises(ForgeError, match="422"):
        forge.create_status("0" * 40, CommitStatus("deploy/dev", StatusState.SUCCESS))
