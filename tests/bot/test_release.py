"""Nightly release: pure decision table, and the real fast-forward on a bare remote."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.git import GitRepo
from bot.release import ReleaseProblem, decide_release, next_release_tag, run_release
from tests.conftest import git, seed_remote

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "release-20261125"),
        (["release-20261124"], "release-20261125"),
        (["release-20261125"], "release-20261125-2"),
        (["release-20261125", "release-20261125-2"], "release-20261125-3"),
        (["release-20261125-7", "release-20261125"], "release-20261125-8"),
        (["release-20261125-x", "other"], "release-20261125"),
    ],
)
def test_next_release_tag_picks_the_next_free_suffix(existing, expected):
    assert next_release_tag(existing, TODAY) == expected


def _decide(**kw):
    base: dict[str, Any] = {
        "main_sha": "b" * 40,
        "release_sha": "a" * 40,
        "main_descends_from_release": True,
        "problems": (),
        "existing_tags": (),
        "today": TODAY,
    }
    base.update(kw)
    return decide_release(**base)


def test_release_already_at_main_is_a_noop_even_with_problems():
    decision = _decide(release_sha="b" * 40, problems=[ReleaseProblem("x", "broken")])
    assert decision.action == "noop"


def test_problems_block_the_release_and_are_reported():
    problem = ReleaseProblem("deploy/overlays/prod/kustomization.yaml", "digest not in registry")
    decision = _decide(problems=[problem])
    assert decision.action == "blocked"
    assert decision.problems == (problem,)
    assert decision.tag is None


def test_a_rewritten_history_blocks_the_release():
    decision = _decide(main_descends_from_release=False)
    assert decision.action == "blocked"
    assert "not an ancestor" in decision.reason


def test_first_release_creates_branch_and_tag():
    decision = _decide(release_sha=None, main_descends_from_release=False)
    assert decision.action == "release"
    assert decision.tag == "release-20261125"


def _seeded(tmp_path: Path, bare: Path) -> GitRepo:
    seed_remote(tmp_path / "seed", bare, {"a.txt": "1\n"}, "one")
    return GitRepo.clone(str(bare), tmp_path / "bot")


def test_run_release_moves_release_tags_it_and_is_idempotent(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    first = run_release(repo, checks=[], today=TODAY)
    assert first.action == "release"
    main_sha = git(bare_remote, "rev-parse", "main").strip()
    assert git(bare_remote, "rev-parse", "release").strip() == main_sha
    assert git(bare_remote, "rev-parse", "release-20261125^{commit}").strip() == main_sha
    refs_before = git(bare_remote, "for-each-ref")

    again = run_release(repo, checks=[], today=TODAY)
    assert again.action == "noop"
    assert git(bare_remote, "for-each-ref") == refs_before


def test_run_release_with_failing_check_does_not_move_release(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    run_release(repo, checks=[], today=TODAY)
    released = git(bare_remote, "rev-parse", "release").strip()
    seed = tmp_path / "seed"
    (seed / "a.txt").write_text("2\n")
    git(seed, "commit", "-q", "-am", "two")
    git(seed, "push", "-q", "origin", "main")

    def failing(_repo: GitRepo) -> list[ReleaseProblem]:
        return [ReleaseProblem("deploy/overlays/dev/kustomization.yaml", "model v9 missing")]

    decision = run_release(repo, checks=[failing], today=TODAY)
    assert decision.action == "blocked"
    assert "model v9 missing" in str(decision.problems[0])
    assert git(bare_remote, "rev-parse", "release").strip() == released

    second = run_release(repo, checks=[], today=TODAY)
    assert second.action == "release"
    assert second.tag == "release-20261125-2"
