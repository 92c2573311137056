"""The bot tests' world agrees with what ships: the policy is used unmodified (but for the image
repository in the shared local registry), its reviewers exist in the local GitHub, and the
clock the tests run at opens no freeze window."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta

import pytest

from bot.policy import load_policy, parse_policy
from localworld.github.teams import parse_team_spec
from tests.bot.gitops_world import PROJECT, WORLD_ORG, open_time, shipped_policy_text
from tests.conftest import GITHUB_REVIEWERS, GITHUB_TEAMS

SHIPPED = load_policy(PROJECT / "promotion.yaml")


def test_every_reviewer_of_the_shipped_policy_exists_in_the_local_github():
    """A team the policy asks for must be a team of the test repository's organization, a user
    a known login: otherwise the tests would pass where GitHub answers 422."""
    teams = {(org, slug) for org, slug, _ in map(parse_team_spec, GITHUB_TEAMS)}
    reviewers = [r for env in SHIPPED.environments for r in env.reviewers]
    assert reviewers, "the shipped policy asks for reviews"
    for reviewer in reviewers:
        if reviewer.org is None:
            assert reviewer.name in GITHUB_REVIEWERS, f"{reviewer}: no such user here"
        else:
            assert (reviewer.org, reviewer.name) in teams, f"{reviewer}: no such team here"
            assert reviewer.org == WORLD_ORG, f"{reviewer}: not the test repository's org"


def test_the_world_seeds_the_shipped_policy_but_for_the_image_repository():
    shipped = (PROJECT / "promotion.yaml").read_text()
    seeded = shipped_policy_text("t0123abcd/modelops-app")
    changed = [
        line
        for line in difflib.unified_diff(shipped.splitlines(), seeded.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-        repository: modelops-app",
        "+        repository: t0123abcd/modelops-app",
    ]
    policy = parse_policy(seeded)
    for ours, theirs in zip(policy.environments, SHIPPED.environments, strict=True):
        assert ours.automerge == theirs.automerge
        assert ours.freeze_windows == theirs.freeze_windows
        assert ours.reviewers == theirs.reviewers
        assert ours.required_checks == theirs.required_checks


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # a Wednesday morning: as is (two days clear of the weekend windows)
        (datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 10, tzinfo=UTC)),
        # a Friday evening: staging and prod frozen until Monday 08:00
        (datetime(2026, 11, 27, 20, tzinfo=UTC), datetime(2026, 11, 30, 8, tzinfo=UTC)),
        # prod's year-end freeze, then the weekend after it
        (datetime(2026, 12, 24, 9, tzinfo=UTC), datetime(2027, 1, 4, 8, tzinfo=UTC)),
    ],
)
def test_the_tests_clock_opens_no_freeze_window_of_the_shipped_policy(after, expected):
    at = open_time(after)
    assert at == expected
    for hours in range(49):
        for env in SHIPPED.environments:
            assert env.frozen_until(at + timedelta(hours=hours)) is None, (env.name, hours)
