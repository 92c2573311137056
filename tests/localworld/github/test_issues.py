"""Issues through real PyGithub: create, list (with PRs among them), get, edit, comment, close.

Every exchange is checked against GitHub's OpenAPI description by the `github` fixture.
"""

from __future__ import annotations

import pytest
from github import GithubException
from github.Repository import Repository

from localworld.github import LocalGitHub
from tests.localworld.github.conftest import Checkout
from tests.localworld.github.test_pulls import open_promotion


def test_issue_lifecycle_create_edit_comment_close_reopen(repo: Repository):
    issue = repo.create_issue(
        title="Nightly release blocked", body="- prod: digest missing", labels=["release-blocked"]
    )
    assert (issue.number, issue.state, issue.pull_request) == (1, "open", None)
    assert [label.name for label in issue.labels] == ["release-blocked"]
    assert issue.user.login == "localworld-bot"
    assert issue.html_url.endswith(f"/issues/{issue.number}")

    issue.edit(body="- prod: digest missing\n- dev: model v9 missing")
    comment = issue.create_comment("still blocked")
    assert comment.html_url.endswith(f"/issues/{issue.number}#issuecomment-{comment.id}")
    fresh = repo.get_issue(issue.number)
    assert fresh.body == "- prod: digest missing\n- dev: model v9 missing"
    assert fresh.comments == 1
    assert [c.body for c in fresh.get_comments()] == ["still blocked"]

    fresh.edit(state="closed")
    closed = repo.get_issue(issue.number)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    assert closed.closed_by is not None
    assert closed.closed_by.login == "localworld-bot"
    assert closed.closed_at is not None
    assert list(repo.get_issues(state="open")) == []

    closed.edit(state="open")
    reopened = repo.get_issue(issue.number)
    assert (reopened.state, reopened.state_reason) == ("open", "reopened")
    assert reopened.closed_at is None


def test_issues_and_pulls_share_one_number_sequence(checkout: Checkout, repo: Repository):
    first = repo.create_issue(title="one")
    pr = open_promotion(checkout, repo)
    second = repo.create_issue(title="two")
    assert (first.number, pr.number, second.number) == (1, 2, 3)
    with pytest.raises(GithubException) as missing:
        repo.get_pull(first.number)
    assert missing.value.status == 404


def test_issue_listing_includes_pull_requests_marked_as_such(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    pr.add_to_labels("promotion")
    issue = repo.create_issue(title="plain issue", labels=["promotion"])
    listed = list(repo.get_issues(state="open"))
    assert [i.number for i in listed] == [issue.number, pr.number]  # newest first
    by_number = {i.number: i for i in listed}
    assert by_number[issue.number].pull_request is None
    as_pull = by_number[pr.number].pull_request
    assert as_pull is not None
    assert as_pull.html_url.endswith(f"/pull/{pr.number}")
    # an issue GET of a PR number answers the PR as an issue; comments go to the same thread
    seen = repo.get_issue(pr.number)
    assert (seen.title, seen.pull_request is not None) == ("Promote dev", True)
    seen.create_comment("via the issues API")
    assert [c.body for c in pr.get_issue_comments()] == ["via the issues API"]


def test_issue_listing_filters_by_state_labels_and_creator(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    from tests.localworld.github.conftest import client

    github.add_token("other-token", [checkout.full_name], login="someone-else")
    theirs = client(github, "other-token").get_repo(checkout.full_name)
    a = repo.create_issue(title="a", labels=["release-blocked", "bot"])
    b = repo.create_issue(title="b", labels=["bot"])
    c = theirs.create_issue(title="c", labels=["Release-Blocked"])
    b.edit(state="closed")

    def numbers(**filters: object) -> list[int]:
        return [i.number for i in repo.get_issues(**filters)]  # type: ignore[arg-type]

    assert numbers(state="open") == [c.number, a.number]
    assert numbers(state="closed") == [b.number]
    assert numbers(state="all", direction="asc") == [a.number, b.number, c.number]
    assert numbers(state="open", labels=["release-blocked"]) == [c.number, a.number]
    assert numbers(state="all", labels=["release-blocked", "bot"]) == [a.number]
    assert numbers(state="open", creator="someone-else") == [c.number]
    assert numbers(state="open", creator="localworld-bot", labels=["release-blocked"]) == [a.number]
    assert numbers(state="open", assignee="*") == []
    assert numbers(state="open", assignee="none") == [c.number, a.number]


def test_issue_edit_replaces_labels_and_title(repo: Repository):
    issue = repo.create_issue(title="t1", labels=["a", "b"])
    issue.edit(title="t2", labels=["c"])
    fresh = repo.get_issue(issue.number)
    assert (fresh.title, [label.name for label in fresh.labels]) == ("t2", ["c"])
    issue.edit(labels=[])
    assert list(repo.get_issue(issue.number).get_labels()) == []


def test_issue_labels_endpoints_work_on_plain_issues(repo: Repository):
    issue = repo.create_issue(title="labelled later")
    issue.add_to_labels("release-blocked")
    issue.set_labels("x", "y")
    issue.remove_from_labels("x")
    assert [label.name for label in repo.get_issue(issue.number).labels] == ["y"]


def test_issue_errors_are_github_shaped(repo: Repository):
    with pytest.raises(GithubException) as missing:
        repo.get_issue(99).title  # noqa: B018 - the lazy object fetches on first read
    assert missing.value.status == 404
    with pytest.raises(GithubException) as untitled:
        repo.create_issue(title="")
    assert untitled.value.status == 422
    assert untitled.value.data["errors"][0]["field"] == "title"
    with pytest.raises(GithubException) as assignee:
        repo.create_issue(title="assigned", assignees=["reviewer-1"])
    assert assignee.value.status == 422
    with pytest.raises(GithubException) as nothing:
        repo.get_issue(99).create_comment("into the void")
    assert nothing.value.status == 404


def test_adding_no_labels_is_refused_and_setting_none_clears_them(repo: Repository):
    issue = repo.create_issue(title="labelled", labels=["bot"])
    with pytest.raises(GithubException) as err:
        issue.add_to_labels()  # PyGithub posts a bare []: the description's minItems 1 refuses it
    assert err.value.status == 422
    assert err.value.data["message"].startswith("Invalid request.")
    assert [label.name for label in repo.get_issue(issue.number).labels] == ["bot"]
    issue.set_labels()  # set-labels' text: "You can pass an empty array to remove all labels"
    assert list(repo.get_issue(issue.number).labels) == []
