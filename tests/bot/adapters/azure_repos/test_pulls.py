"""Pull requests on the local Azure Repos: create with labels and reviewers, complete by
strategy, auto-complete, long descriptions (`bot.adapters.azure_repos.pulls`)."""

from __future__ import annotations

import pytest

from bot.adapters.azure_repos import (
    AzureReposForge,
    fit_description,
)
from bot.core.policy import Reviewer
from bot.forge import ForgeConflictError, ForgeError
from tests.bot.adapters.azure_repos.conftest import forge_on, open_pr
from tests.conftest import AZURE_REPOS_TEST_TOKEN, git


def test_a_pr_is_created_with_labels_and_required_team_and_user_reviewers(azure_repos, repo):
    name, work = repo
    forge = forge_on(azure_repos, name)
    since = azure_repos.last_seq()
    pr = open_pr(
        forge,
        labels=["env/dev", "promotion"],
        reviewers=[Reviewer("ml-reviewers", "modelops"), Reviewer("reviewer-2")],
    )
    assert (pr.state, pr.merged, pr.head_ref, pr.base_ref) == ("open", False, "promote/dev", "main")
    assert pr.head_sha == git(work, "rev-parse", "HEAD").strip()
    assert pr.labels == ("env/dev", "promotion")
    assert {r.key for r in pr.requested} == {"modelops/ml-reviewers", "reviewer-2"}
    assert [w["operation"] for w in azure_repos.writes(since)] == ["Pull Requests_Create"]
    raw = azure_repos.requests(since, bodies=True)[-1]["request_body"]
    assert {r["isRequired"] for r in raw["reviewers"]} == {True}
    assert forge.find_open_pr("promote/dev", "main") == pr
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]
    assert forge.open_prs("main", "hold/") == {}

    optional = forge_on(azure_repos, name, reviewers_required=False)
    optional.request_reviews(pr.number, [Reviewer("sre", "modelops")])
    assert not optional.reviewed(pr.number)
    azure_repos.vote(pr.number, "reviewer-2", 10)
    assert forge.reviewed(pr.number)
    assert {r.key for r in forge.get_pr(pr.number).requested} == {
        "modelops/ml-reviewers",
        "modelops/sre",
    }


def test_an_unknown_reviewer_fails_before_anything_is_written(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    since = azure_repos.last_seq()
    with pytest.raises(ForgeError, match="no single team '\\[modelops\\]\\\\\\\\nobody'"):
        open_pr(forge, reviewers=[Reviewer("nobody", "modelops")])
    with pytest.raises(ForgeError, match="no single user 'ml-reviewers'"):
        open_pr(forge, reviewers=[Reviewer("ml-reviewers")])  # a team written as a bare name
    assert azure_repos.writes(since) == []


@pytest.mark.parametrize(("method", "parents"), [("squash", 1), ("merge", 2), ("rebase", 1)])
def test_merge_completes_with_the_strategy_only_at_the_expected_head(
    azure_repos, repo, method: str, parents: int
):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    pr = open_pr(forge)
    with pytest.raises(ForgeConflictError, match="409"):
        forge.merge_pr(pr.number, sha="0" * 40, method=method)
    merged = forge.merge_pr(pr.number, sha=pr.head_sha, method=method)
    remote = azure_repos.remote_path(name)
    assert git(remote, "rev-parse", "main").strip() == merged
    assert len(git(remote, "rev-list", "--parents", "-n1", merged).split()) == parents + 1
    done = forge.get_pr(pr.number)
    assert (done.state, done.merged) == ("closed", True)


def test_a_head_moved_during_completion_is_a_conflict(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    pr = open_pr(forge)
    azure_repos.inject("head_moved", method="PATCH", path="/pullrequests/")
    with pytest.raises(ForgeConflictError):
        forge.merge_pr(pr.number, sha=pr.head_sha)
    assert forge.get_pr(pr.number).state == "open"


def test_auto_complete_is_set_by_the_bot_and_completes(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    pr = open_pr(forge)
    done = forge.enable_auto_complete(pr.number, method="squash")
    assert (done.state, done.merged) == ("closed", True)  # no policy pending here


def test_a_5xx_on_create_is_not_repeated_blindly(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    azure_repos.inject("status", status=502, method="POST", path="/pullrequests$")
    since = azure_repos.last_seq()
    pr = open_pr(forge, labels=["promotion"])
    creates = [w for w in azure_repos.writes(since) if w["operation"] == "Pull Requests_Create"]
    assert [w["status"] for w in creates] == [502, 200]  # looked first, found none, created once
    assert list(forge.open_prs("main")) == ["promote/dev"]
    assert pr.labels == ("promotion",)


def test_a_long_body_is_shortened_keeping_its_marker_and_listings_read_it_whole(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    marker = '<!-- promotion-bot: {"env": "dev"} -->\n'
    body = "| row |\n" * 900 + "\n\n" + marker  # 7200 characters of evidence, then the marker
    pr = forge.create_pr(title="promote(dev)", body=body, head="promote/dev", base="main")
    assert len(pr.body) <= 4000
    assert pr.body.endswith(marker)
    assert "shortened to the 4000 characters" in pr.body
    assert fit_description(pr.body) == pr.body
    # the listing cuts descriptions at 400 characters: the adapter reads a long one again
    assert forge.open_prs("main")["promote/dev"].body == pr.body
    found = forge.find_open_pr("promote/dev", "main")
    assert found is not None and found.body.endswith(marker)
    forge.update_pr(pr.number, title="promote(dev)", body=body.replace("row", "new"))
    assert forge.get_pr(pr.number).body.endswith(marker)
    forge.close_pr(pr.number, "no")
    assert forge.closed_prs("promote/dev", "main")[0].body.endswith(marker)
    assert fit_description("short") == "short"


def test_a_queued_completion_is_waited_for(azure_repos, repo):
    name, _ = repo
    forge = AzureReposForge(
        azure_repos.url, AZURE_REPOS_TEST_TOKEN, name, completion_wait=5, completion_poll=0.01
    )
    pr = open_pr(forge)
    azure_repos.inject("queued", method="PATCH", path="/pullrequests/")
    since = azure_repos.last_seq()
    merged = forge.merge_pr(pr.number, sha=pr.head_sha)
    assert git(azure_repos.remote_path(name), "rev-parse", "main").strip() == merged
    calls = [r["operation"] for r in azure_repos.requests(since)]
    assert calls == ["Pull Requests_Update", "Pull Requests_Get Pull Request"]

    impatient = AzureReposForge(
        azure_repos.url, AZURE_REPOS_TEST_TOKEN, name, completion_wait=0, completion_poll=0
    )
    git_dir = azure_repos.remote_path(name)
    git(git_dir, "branch", "-f", "promote/dev", merged)  # a new head to propose again
    other = impatient.create_pr(title="again", body="b", head="promote/dev", base="main")
    # nothing to merge is still a completion; queued and not waited for: said, not failed
    azure_repos.inject("queued", method="PATCH", path="/pullrequests/")
    with pytest.raises(ForgeError, match="still queued after 0 s"):
        impatient.merge_pr(other.number, sha=other.head_sha)
    assert impatient.get_pr(other.number).merged  # the queued job ran at the next read
