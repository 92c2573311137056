"""GitHub's rules for combining commit statuses, and the per-context limit (pure)."""

from __future__ import annotations

import pytest

from localworld.github.commit_status import (
    CommitStatus,
    combined_state,
    latest_per_context,
    newest_first,
)
from localworld.github.state import RepoState


def status(n: int, state: str, context: str = "default") -> CommitStatus:
    return CommitStatus(n, "a" * 40, state, context, None, None, "bot", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("states", "combined"),
    [
        ([], "pending"),
        (["success"], "success"),
        (["success", "success"], "success"),
        (["success", "pending"], "pending"),
        (["pending", "failure"], "failure"),
        (["success", "error"], "failure"),
        (["error", "pending"], "failure"),
    ],
)
def test_combined_state_is_failure_then_pending_then_success(states: list[str], combined: str):
    latest = [status(i, s, f"ctx-{i}") for i, s in enumerate(states)]
    assert combined_state(latest) == combined


def test_the_latest_status_of_each_context_counts_and_contexts_ignore_case():
    history = [
        status(1, "failure", "Flux"),
        status(2, "success", "argo"),
        status(3, "success", "flux"),
    ]
    latest = latest_per_context(history)
    assert [(s.id, s.context) for s in latest] == [(3, "flux"), (2, "argo")]
    assert combined_state(latest) == "success"
    assert [s.id for s in newest_first(history)] == [3, 2, 1]


def test_a_sha_and_context_take_at_most_the_limit_of_statuses():
    repo = RepoState("o/r")
    assert repo.add_status(status(1, "success"), limit=2)
    assert repo.add_status(status(2, "success", "DEFAULT"), limit=2)
    assert not repo.add_status(status(3, "success"), limit=2)
    assert repo.add_status(status(4, "success", "other"), limit=2)
    assert [s.id for s in repo.statuses["a" * 40]] == [1, 2, 4]
