"""The GitHub adapter's issue operations against the local GitHub (contract-checked)."""

from __future__ import annotations

import pytest
from github import Auth, Github

from bot.adapters.github import GitHubForge
from bot.forge import ForgeError
from localworld.github import LocalGitHub
from tests.bot.adapters.test_github import repo_name  # noqa: F401 - the fixture

MARKER = "<!-- promotion-bot:release-blocked -->"


def _forge(github: LocalGitHub, repo: str, **kw: object) -> GitHubForge:
    return GitHubForge(github.url, github.token, repo, backoff_factor=0.01, **kw)  # type: ignore[arg-type]


def test_issue_lifecycle_find_create_update_comment_close(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    forge = _forge(github, repo_name)
    assert forge.find_open_issue(label="release-blocked", marker=MARKER) is None
    issue = forge.create_issue("Nightly release blocked", f"{MARKER}\nv1", ["release-blocked"])
    assert (issue.state, issue.labels) == ("open", ("release-blocked",))
    assert issue.url.endswith(f"/issues/{issue.number}")
    found = forge.find_open_issue(label="release-blocked", marker=MARKER)
    assert found == issue

    forge.update_issue(issue.number, f"{MARKER}\nv2")
    gh = Github(base_url=github.url, auth=Auth.Token(github.token), retry=None)
    gh.get_repo(repo_name).get_issue(issue.number).create_comment("still blocked")  # a person
    again = forge.find_open_issue(label="release-blocked", marker=MARKER)
    assert again is not None
    assert again.body == f"{MARKER}\nv2"

    forge.close_issue(issue.number, "released as release-20261125")
    assert forge.find_open_issue(label="release-blocked", marker=MARKER) is None
    closed = gh.get_repo(repo_name).get_issue(issue.number)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    assert [c.body for c in closed.get_comments()] == [
        "still blocked",
        "released as release-20261125",
    ]


def test_find_open_issue_skips_prs_and_issues_without_the_marker(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(
        title="Promote dev",
        body=MARKER,
        head="promote/dev",
        base="main",
        labels=["release-blocked"],
    )
    forge.create_issue("a person's issue", "no marker here", ["release-blocked"])
    assert forge.find_open_issue(label="release-blocked", marker=MARKER) is None
    ours = forge.create_issue("Nightly release blocked", MARKER, ["release-blocked"])
    found = forge.find_open_issue(label="release-blocked", marker=MARKER)
    assert found is not None
    assert found.number == ours.number != pr.number


def test_issue_errors_become_forge_errors(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    forge = _forge(github, repo_name, retries=1)
    github.inject("status", status=503, path="/issues", times=4)
    try:
        with pytest.raises(ForgeError, match="503"):
            forge.create_issue("Nightly release blocked", MARKER, ["release-blocked"])
    finally:
        github.clear_faults()
    with pytest.raises(ForgeError, match=r"issue #999.*404"):
        forge.update_issue(999, "nothing there")


def test_an_issue_carries_its_author_and_the_bot_knows_its_own_login(
    github: LocalGitHub,
    repo_name: str,  # noqa: F811 - the fixture
):
    """A token's issues are by its user (`GET /user`); the dashboard adopts only those."""
    forge = _forge(github, repo_name)
    issue = forge.create_issue("Promotion dashboard", MARKER, ["release-blocked"])
    assert issue.author == github.login == forge.identity()
    found = forge.find_open_issue(label="release-blocked", marker=MARKER)
    assert found is not None and found.author == github.login
    assert forge.find_open_issue(label="release-blocked", marker=MARKER, author="mallory") is None
    assert forge.find_open_issue(label="release-blocked", marker=MARKER, author=github.login)
