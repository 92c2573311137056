"""One commit, as `GET /repos/{owner}/{repo}/commits/{ref}` answers it."""

from __future__ import annotations

import pytest
from github import UnknownObjectException
from github.Repository import Repository

from tests.localworld.github.conftest import Checkout


def test_a_commit_has_its_files_and_stats_against_its_first_parent(
    checkout: Checkout, repo: Repository
):
    first = checkout.remote_sha("main")
    sha = checkout.commit(
        "main", {"a.txt": "1\n2\n", "deploy/overlays/dev/kustomization.yaml": "x\n"}, "two"
    )
    checkout.push("main")
    commit = repo.get_commit("main")
    assert commit.sha == sha
    assert [p.sha for p in commit.parents] == [first]
    assert sorted((f.filename, f.status) for f in commit.files) == [
        ("a.txt", "added"),
        ("deploy/overlays/dev/kustomization.yaml", "modified"),
    ]
    assert (commit.stats.additions, commit.stats.deletions, commit.stats.total) == (3, 1, 4)
    root = repo.get_commit(first)
    assert [f.status for f in root.files] == ["added"]  # the root commit, against nothing
    with pytest.raises(UnknownObjectException):
        _ = repo.get_commit("no-such-branch").sha
