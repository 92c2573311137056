"""Branches and git refs read from and written to the bare repository."""

from __future__ import annotations

import pytest
from github import GithubException, UnknownObjectException
from github.Repository import Repository

from tests.conftest import git
from tests.localworld.github.conftest import Checkout


def test_branches_and_refs_follow_pushes(checkout: Checkout, repo: Repository):
    sha = checkout.commit("promote/dev", {"a": "a\n"}, "a")
    checkout.push("promote/dev")
    assert [b.name for b in repo.get_branches()] == ["main", "promote/dev"]
    branch = repo.get_branch("promote/dev")
    assert branch.commit.sha == sha
    assert branch.commit.commit.message == "a"
    assert repo.get_git_ref("heads/promote/dev").object.sha == sha
    matching = repo.get_git_matching_refs("heads/promote")
    assert [(r.ref, r.object.type) for r in matching] == [("refs/heads/promote/dev", "commit")]
    assert list(repo.get_git_matching_refs("heads/nothing")) == []
    with pytest.raises(UnknownObjectException):
        repo.get_branch("missing")
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/missing")


def test_refs_are_created_moved_and_deleted_in_the_bare_repo(checkout: Checkout, repo: Repository):
    base = checkout.remote_sha("main")
    ref = repo.create_git_ref("refs/heads/release", base)
    assert checkout.remote_sha("release") == base
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/heads/release", base)
    assert (err.value.status, err.value.data["message"]) == (422, "Reference already exists")

    ahead = checkout.commit("main", {"b": "b\n"}, "b")
    checkout.push("main")
    ref.edit(ahead)  # fast-forward
    assert checkout.remote_sha("release") == ahead

    checkout.start_branch("side", base="main")
    git(checkout.path, "reset", "-q", "--hard", base)
    side = checkout.commit("side", {"c": "c\n"}, "c")
    checkout.push("side")
    with pytest.raises(GithubException) as err:
        ref.edit(side)
    assert (err.value.status, err.value.data["message"]) == (422, "Update is not a fast forward")
    ref.edit(side, force=True)
    assert checkout.remote_sha("release") == side

    ref.delete()
    assert "release" not in git(checkout.remote, "branch", "--list")
    with pytest.raises(GithubException) as err:
        ref.delete()
    assert err.value.status == 422


@pytest.mark.parametrize(
    ("refname", "sha", "message"),
    [
        ("heads/x", None, "Reference name must start with 'refs/' and have at least two slashes."),
        ("refs/heads/x", "0" * 40, "Object does not exist"),
        ("refs/heads/bad..name", None, "Reference name must start with 'refs/'"),
    ],
)
def test_create_ref_validates_name_and_object(
    checkout: Checkout, repo: Repository, refname: str, sha: str | None, message: str
):
    with pytest.raises(GithubException) as err:
        repo.create_git_ref(refname, sha or checkout.remote_sha("main"))
    assert err.value.status == 422
    assert err.value.data["message"].startswith(message)
