"""The GitHub adapter against the local GitHub server (real git merges, contract-checked)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.adapters.github import GitHubForge, noreply_login
from bot.core.policy import Reviewer
from bot.forge import ForgeError
from localworld.github import LocalGitHub
from tests.conftest import GITHUB_REVIEWERS, git, seed_remote


@pytest.fixture
def repo_name(github: LocalGitHub, tmp_path: Path) -> str:
    name = f"modelops/gitops-{uuid.uuid4().hex[:8]}"  # the organization with the seeded teams
    remote = github.create_repo(name)
    work = tmp_path / "seed"
    seed_remote(work, remote, {"overlay.yaml": "version: 1\n"})
    git(work, "checkout", "-q", "-b", "promote/dev")
    (work / "overlay.yaml").write_text("version: 2\n")
    git(work, "commit", "-q", "-am", "promote dev to 2")
    git(work, "push", "-q", "origin", "promote/dev")
    return name


def _forge(github: LocalGitHub, repo: str, **kw) -> GitHubForge:
    return GitHubForge(github.url, github.token, repo, backoff_factor=0.01, **kw)


def test_pr_lifecycle_create_find_update_comment_merge(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    assert forge.find_open_pr("promote/dev", "main") is None
    since = github.last_seq()
    pr = forge.create_pr(
        title="Promote dev",
        body="body v1",
        head="promote/dev",
        base="main",
        labels=["promotion", "env:dev"],
        reviewers=[Reviewer(GITHUB_REVIEWERS[0]), Reviewer.parse("modelops/sre")],
    )
    assert pr.labels == ("env:dev", "promotion")
    assert [str(r) for r in pr.requested] == [GITHUB_REVIEWERS[0], "modelops/sre"]
    one_request = [e for e in github.requests(since) if e["path"].endswith("/requested_reviewers")]
    assert len(one_request) == 1
    found = forge.find_open_pr("promote/dev", "main")
    assert found is not None
    assert found.number == pr.number
    forge.update_pr(pr.number, title="Promote dev (2)", body="body v2")
    assert forge.get_pr(pr.number).body == "body v2"
    forge.comment(pr.number, "hello reviewers")
    assert [c.body for c in forge.comments(pr.number)] == ["hello reviewers"]
    merged_sha = forge.merge_pr(pr.number, sha=pr.head_sha, method="squash")
    assert git(github.remote_path(repo_name), "rev-parse", "main").strip() == merged_sha
    assert forge.find_open_pr("promote/dev", "main") is None


def test_close_with_comment(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    forge.close_pr(pr.number, "stale: target already reached")
    closed = forge.get_pr(pr.number)
    assert closed.state == "closed"
    assert [c.body for c in forge.comments(pr.number)] == ["stale: target already reached"]


def test_transient_5xx_and_rate_limits_are_retried(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    github.inject("status", status=502, path="/pulls$", method="GET", times=2)
    github.inject("secondary_rate_limit", retry_after=1, path="/pulls$", method="GET", times=1)
    assert forge.find_open_pr("promote/dev", "main") is None


def test_merge_with_moved_head_is_refused(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    with pytest.raises(ForgeError, match="409"):
        forge.merge_pr(pr.number, sha="0" * 40)


def test_permanent_errors_are_reported_with_status(github: LocalGitHub, repo_name: str):
    forge = GitHubForge(github.url, "wrong-token", repo_name, retries=0)
    with pytest.raises(ForgeError, match="401"):
        forge.find_open_pr("promote/dev", "main")


def test_a_post_failing_with_5xx_is_not_repeated_blindly(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    since = github.last_seq()
    github.inject("status", status=502, method="POST", path="/comments$", times=1)
    with pytest.raises(ForgeError, match="502") as info:
        forge.comment(pr.number, "once")
    assert info.value.status == 502
    posts = [r for r in github.writes(since) if r["path"].endswith("/comments")]
    assert len(posts) == 1


def test_a_post_refused_by_a_rate_limit_is_repeated_after_the_wait(
    github: LocalGitHub, repo_name: str
):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    github.inject("status", status=429, retry_after=1, method="POST", path="/comments$", times=1)
    forge.comment(pr.number, "after the wait")
    assert [c.body for c in forge.comments(pr.number)] == ["after the wait"]


def test_create_pr_after_a_5xx_looks_before_creating_again(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    github.inject("status", status=503, method="POST", path="/pulls$", times=1)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]
    assert pr.head_ref == "promote/dev"


def test_a_team_of_another_organization_is_refused_before_anything_is_written(
    github: LocalGitHub, repo_name: str
):
    forge = _forge(github, repo_name)
    since = github.last_seq()
    with pytest.raises(ForgeError, match=r"other/sre not a team of modelops"):
        forge.create_pr(
            title="t", body="b", head="promote/dev", base="main",
            reviewers=[Reviewer.parse("other/sre")],
        )  # fmt: skip
    assert github.writes(since) == []


def test_labels_and_review_requests_can_be_added_to_an_open_pr(github: LocalGitHub, repo_name: str):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main", labels=["a"])
    forge.add_labels(pr.number, ["a", "b"])
    forge.add_labels(pr.number, ["b"])  # again: nothing changes
    forge.request_reviews(pr.number, [Reviewer.parse("modelops/ml-reviewers")])
    fresh = forge.get_pr(pr.number)
    assert fresh.labels == ("a", "b")
    assert [str(r) for r in fresh.requested] == ["modelops/ml-reviewers"]


def test_a_team_written_as_a_bare_name_is_refused_with_the_spelling_to_use(
    github: LocalGitHub, repo_name: str
):
    forge = _forge(github, repo_name)
    pr = forge.create_pr(title="t", body="b", head="promote/dev", base="main")
    with pytest.raises(ForgeError) as err:
        forge.request_reviews(pr.number, [Reviewer.parse("ml-reviewers")])  # a user, by grammar
    assert err.value.status == 422
    assert "Reviews may only be requested from collaborators" in str(err.value)
    assert "a bare reviewer name is a user; write a team as modelops/<team>" in str(err.value)
    assert forge.get_pr(pr.number).requested == ()


def test_the_bots_account_is_recognised_by_its_noreply_address_only(
    github: LocalGitHub, tmp_path: Path
):
    """A squash merge names the PR's author as `<id>+<login>@users.noreply.github.com` (or
    `<login>@…` for an account older than 2017): only that is the token's account."""
    forge = _forge(github, "localworld/noreply-check")
    assert forge.identity() == "localworld-bot"
    assert forge.is_own_account("632363984+localworld-bot@users.noreply.github.com")
    assert forge.is_own_account("Localworld-Bot@users.noreply.github.com")  # logins: any case
    for other in (
        "1+localworld-bot-2@users.noreply.github.com",
        "1+ann@users.noreply.github.com",
        "localworld-bot@example.com",
        "1+localworld-bot@users.noreply.github.com.evil.test",
        "1+localworld-bot@users.noreply.github.com\n",
        "x+1+localworld-bot@users.noreply.github.com",
        "",
    ):
        assert not forge.is_own_account(other), other
    assert noreply_login("49736102+kodiakhq[bot]@users.noreply.github.com") == "kodiakhq[bot]"
