"""The git adapter against real repositories: fresh branches, lease-protected pushes, history."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.git import GitError, GitRepo, PushRejectedError
from tests.conftest import git


@pytest.fixture
def origin(tmp_path: Path, bare_remote: Path) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "overlay.yaml").write_text("version: 1\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "remote", "add", "origin", str(bare_remote))
    git(seed, "push", "-q", "origin", "main")
    return bare_remote


def _clone(origin: Path, dest: Path) -> GitRepo:
    repo = GitRepo.clone(str(origin), dest)
    repo.fetch()
    return repo


def test_fresh_branch_commit_and_push_creates_remote_branch(tmp_path: Path, origin: Path):
    repo = _clone(origin, tmp_path / "work")
    repo.checkout_fresh("promote/dev", "main")
    (repo.path / "overlay.yaml").write_text("version: 2\n")
    sha = repo.commit([repo.path / "overlay.yaml"], "promote dev")
    repo.push_with_lease(sha, "promote/dev", expected=None)
    assert git(origin, "rev-parse", "refs/heads/promote/dev").strip() == sha
    repo.fetch()
    assert repo.remote_sha("promote/dev") == sha
    assert repo.remote_sha("does-not-exist") is None


def test_push_with_stale_lease_is_rejected_and_remote_keeps_other_writer(
    tmp_path: Path, origin: Path
):
    ours = _clone(origin, tmp_path / "ours")
    theirs = _clone(origin, tmp_path / "theirs")
    main_sha = ours.remote_sha("main")
    assert main_sha is not None

    theirs.checkout_fresh("promote/dev", "main")
    (theirs.path / "human.txt").write_text("hand edit\n")
    human = theirs.commit([theirs.path / "human.txt"], "human edit")
    theirs.push_with_lease(human, "promote/dev", expected=None)

    ours.checkout_fresh("promote/dev", "main")
    (ours.path / "overlay.yaml").write_text("version: 3\n")
    bot = ours.commit([ours.path / "overlay.yaml"], "bot edit")
    with pytest.raises(PushRejectedError, match="moved"):
        ours.push_with_lease(bot, "promote/dev", expected=None)
    assert git(origin, "rev-parse", "refs/heads/promote/dev").strip() == human


def test_fast_forward_refuses_a_target_that_does_not_descend(tmp_path: Path, origin: Path):
    repo = _clone(origin, tmp_path / "work")
    main_sha = repo.remote_sha("main")
    assert main_sha is not None
    repo.fast_forward(main_sha, "release", expected=None)
    repo.checkout_fresh("side", "main")
    (repo.path / "x").write_text("x\n")
    side = repo.commit([repo.path / "x"], "side")
    repo.fast_forward(side, "release", expected=main_sha)
    assert git(origin, "rev-parse", "refs/heads/release").strip() == side
    with pytest.raises(PushRejectedError, match="non-fast-forward"):
        repo.fast_forward(main_sha, "release", expected=side)


def test_last_change_and_commits_between_read_history(tmp_path: Path, origin: Path):
    repo = _clone(origin, tmp_path / "work")
    first = repo.last_change("overlay.yaml", "refs/remotes/origin/main")
    assert first is not None
    assert first.subject == "seed"
    assert repo.last_change("missing.yaml", "refs/remotes/origin/main") is None
    repo.checkout_fresh("main", "main")
    (repo.path / "overlay.yaml").write_text("version: 9\n")
    new = repo.commit([repo.path / "overlay.yaml"], "bump")
    assert [c.subject for c in repo.commits_between(first.sha, new)] == ["bump"]


def test_not_a_repository_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GitError, match="is not a git repository"):
        GitRepo(tmp_path)
    with pytest.raises(GitError, match="cannot clone"):
        GitRepo.clone(str(tmp_path / "nope.git"), tmp_path / "dest")
