"""The promotion-PR lifecycle through real PyGithub, with real pushes and real git merges."""

from __future__ import annotations

import pytest
from github import GithubException
from github.Repository import Repository

from localworld.github import LocalGitHub
from tests.conftest import git
from tests.localworld.github.conftest import Checkout, client

OVERLAY = "deploy/overlays/dev/kustomization.yaml"


def open_promotion(checkout: Checkout, repo: Repository, tag: str = "2"):
    checkout.start_branch("promote/dev")
    checkout.commit("promote/dev", {OVERLAY: f"newTag: '{tag}'\n"}, f"promote dev to {tag}")
    checkout.push("promote/dev")
    return repo.create_pull(base="main", head="promote/dev", title="Promote dev", body="v1")


def test_promotion_pr_lifecycle_moves_the_base_branch(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    main_before = checkout.remote_sha("main")
    pr = open_promotion(checkout, repo)
    assert (pr.number, pr.state, pr.mergeable, pr.mergeable_state) == (1, "open", True, "clean")
    assert (pr.commits, pr.changed_files, pr.additions, pr.deletions) == (1, 1, 1, 1)
    assert pr.head.sha == checkout.remote_sha("promote/dev")
    assert pr.base.ref == "main" and pr.head.label == "localworld:promote/dev"

    found = repo.get_pulls(state="open", head="localworld:promote/dev", base="main")
    assert [p.number for p in found] == [pr.number]
    assert list(repo.get_pulls(state="open", head="localworld:promote/prod")) == []
    assert list(repo.get_pulls(state="closed")) == []

    pr.edit(body="v2: before -> after")
    pr.add_to_labels("promotion", "env:dev")
    pr.create_review_request(reviewers=["reviewer-1"])
    pr.create_issue_comment("gates passed")
    fresh = repo.get_pull(pr.number)
    assert fresh.body == "v2: before -> after"
    assert sorted(label.name for label in fresh.labels) == ["env:dev", "promotion"]
    assert [u.login for u in fresh.requested_reviewers] == ["reviewer-1"]
    assert [c.body for c in fresh.get_issue_comments()] == ["gates passed"]
    users, teams = fresh.get_review_requests()
    assert [u.login for u in users] == ["reviewer-1"] and list(teams) == []
    fresh.remove_from_labels("env:dev")
    assert [label.name for label in fresh.get_labels()] == ["promotion"]

    cmp = repo.compare("main", "promote/dev")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by) == ("ahead", 1, 0)
    assert [c.sha for c in cmp.commits] == [pr.head.sha]
    assert [(f.filename, f.status, f.additions) for f in cmp.files] == [(OVERLAY, "modified", 1)]
    assert "+newTag: '2'" in cmp.files[0].patch

    status = fresh.merge(merge_method="merge", sha=fresh.head.sha)
    assert status.merged
    main_after = checkout.remote_sha("main")
    assert main_after == status.sha != main_before
    parents = git(checkout.remote, "rev-list", "--parents", "-n1", main_after).split()[1:]
    assert parents == [main_before, pr.head.sha]
    assert git(checkout.remote, "show", f"main:{OVERLAY}") == "newTag: '2'\n"
    merged = repo.get_pull(pr.number)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, main_after)
    assert merged.merged_by.login == "localworld-bot"
    assert merged.is_merged()
    assert [p.number for p in repo.get_pulls(state="closed")] == [pr.number]


def test_squash_merge_makes_one_commit_on_base(checkout: Checkout, repo: Repository):
    main_before = checkout.remote_sha("main")
    pr = open_promotion(checkout, repo)
    checkout.commit("promote/dev", {"README.md": "second\n"}, "second commit")
    checkout.push("promote/dev")
    assert repo.get_pull(pr.number).commits == 2
    status = pr.merge(merge_method="squash", commit_title="Promote dev (squashed)")
    parents = git(checkout.remote, "rev-list", "--parents", "-n1", status.sha).split()[1:]
    assert parents == [main_before]
    subject = git(checkout.remote, "log", "-1", "--format=%s", "main").strip()
    assert subject == "Promote dev (squashed)"
    assert git(checkout.remote, "show", "main:README.md") == "second\n"


def test_a_squash_merge_is_authored_by_the_prs_author_whoever_merges_it(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    """As on github.com: the squash commit's author is the account that opened the PR, by its
    noreply address (`<id>+<login>@users.noreply.github.com`), not the merger nor the
    branch's commit author; the committer is GitHub."""
    pr = open_promotion(checkout, repo)  # opened by localworld-bot; the commit is the checkout's
    github.add_token("squasher-token", [checkout.full_name], login="squasher")
    theirs = client(github, "squasher-token").get_repo(checkout.full_name).get_pull(pr.number)
    status = theirs.merge(merge_method="squash")
    assert status.merged
    author, committer = git(
        checkout.remote, "log", "-1", "--format=%an <%ae>%n%cn <%ce>", status.sha
    ).splitlines()
    opener = repo.get_pull(pr.number).user
    assert opener.login == "localworld-bot"
    assert author == f"localworld-bot <{opener.id}+localworld-bot@users.noreply.github.com>"
    assert committer == "GitHub <noreply@github.com>"
    assert repo.get_pull(pr.number).merged_by.login == "squasher"


def test_rebase_merge_replays_head_commits_onto_base(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    checkout.start_branch("other")
    checkout.commit("other", {"other.txt": "x\n"}, "unrelated change on main")
    git(checkout.path, "push", "-q", "origin", "other:main")
    main_before = checkout.remote_sha("main")
    status = pr.merge(merge_method="rebase")
    log = git(checkout.remote, "log", "--format=%P %s", "-n2", "main").splitlines()
    assert log[0] == f"{main_before} promote dev to 2"
    assert status.sha == checkout.remote_sha("main")


def test_merge_refuses_when_head_moved_since_the_check(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    seen = pr.head.sha
    checkout.commit("promote/dev", {"late.txt": "late\n"}, "a late push")
    checkout.push("promote/dev")
    main_before = checkout.remote_sha("main")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=seen)
    assert err.value.status == 409
    assert "Head branch was modified" in err.value.data["message"]
    assert checkout.remote_sha("main") == main_before
    assert repo.get_pull(pr.number).state == "open"


def test_head_moved_fault_pushes_a_commit_between_check_and_merge(
    github: LocalGitHub, checkout: Checkout, repo: Repository
):
    pr = open_promotion(checkout, repo)
    seen = repo.get_pull(pr.number).head.sha
    github.inject("head_moved", path=r"/pulls/\d+/merge$")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=seen)
    assert err.value.status == 409
    moved = checkout.remote_sha("promote/dev")
    assert moved != seen
    assert git(checkout.remote, "rev-parse", f"{moved}^").strip() == seen
    assert pr.merge(sha=repo.get_pull(pr.number).head.sha).merged  # retry with the new head


def test_conflicting_branches_are_not_mergeable(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo, tag="2")
    checkout.start_branch("hotfix")
    checkout.commit("hotfix", {OVERLAY: "newTag: '9'\n"}, "hotfix on main")
    git(checkout.path, "push", "-q", "origin", "hotfix:main")
    main_before = checkout.remote_sha("main")
    fresh = repo.get_pull(pr.number)
    assert (fresh.mergeable, fresh.mergeable_state) == (False, "dirty")
    with pytest.raises(GithubException) as err:
        fresh.merge()
    assert err.value.status == 405
    assert checkout.remote_sha("main") == main_before
    cmp = repo.compare("main", "promote/dev")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by) == ("diverged", 1, 1)


def test_closed_pr_cannot_be_merged_and_reopens(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    pr.create_issue_comment("stale: target already reached")
    pr.edit(state="closed")
    closed = repo.get_pull(pr.number)
    assert closed.state == "closed" and closed.closed_at is not None and not closed.merged
    assert closed.mergeable is None
    with pytest.raises(GithubException) as err:
        closed.merge()
    assert err.value.status == 405
    closed.edit(state="open")
    assert repo.get_pull(pr.number).state == "open"


def test_one_open_pr_per_head_and_base(checkout: Checkout, repo: Repository):
    open_promotion(checkout, repo)
    with pytest.raises(GithubException) as err:
        repo.create_pull(base="main", head="promote/dev", title="again")
    assert err.value.status == 422
    assert "already exists" in err.value.data["errors"][0]["message"]


@pytest.mark.parametrize(
    ("head", "base", "field"),
    [
        ("nope", "main", "head"),
        ("promote/dev", "nope", "base"),
        ("other:promote/dev", "main", "head"),
    ],
)
def test_create_pr_validates_branches(
    checkout: Checkout, repo: Repository, head: str, base: str, field: str
):
    checkout.start_branch("promote/dev")
    checkout.commit("promote/dev", {"x": "x\n"}, "x")
    checkout.push("promote/dev")
    with pytest.raises(GithubException) as err:
        repo.create_pull(base=base, head=head, title="t")
    assert err.value.status == 422
    assert err.value.data["errors"][0]["field"] == field


def test_create_pr_without_commits_is_refused(checkout: Checkout, repo: Repository):
    checkout.start_branch("promote/dev")
    checkout.push("promote/dev")
    with pytest.raises(GithubException) as err:
        repo.create_pull(base="main", head="promote/dev", title="t")
    assert err.value.status == 422
    assert "No commits between main and promote/dev" in err.value.data["errors"][0]["message"]


def test_head_filter_without_owner_is_ignored_like_github(checkout: Checkout, repo: Repository):
    open_promotion(checkout, repo)
    assert len(list(repo.get_pulls(head="promote/other"))) == 1
    assert len(list(repo.get_pulls(head="localworld:promote/other"))) == 0


def test_reviewers_must_be_collaborators_and_not_the_author(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    for reviewers, message in (
        (["stranger"], "Reviews may only be requested from collaborators."),
        (["localworld-bot"], "Review cannot be requested from pull request author."),
    ):
        with pytest.raises(GithubException) as err:
            pr.create_review_request(reviewers=reviewers)
        assert err.value.status == 422
        assert err.value.data["message"].startswith(message)
    pr.create_review_request(reviewers=["reviewer-1", "reviewer-2"])
    pr.delete_review_request(reviewers=["reviewer-1"])
    assert [u.login for u in repo.get_pull(pr.number).requested_reviewers] == ["reviewer-2"]


def test_pr_follows_pushes_to_its_head(checkout: Checkout, repo: Repository):
    pr = open_promotion(checkout, repo)
    new = checkout.commit("promote/dev", {OVERLAY: "newTag: '3'\n"}, "promote dev to 3")
    checkout.push("promote/dev")
    fresh = repo.get_pull(pr.number)
    assert fresh.head.sha == new and fresh.commits == 2
