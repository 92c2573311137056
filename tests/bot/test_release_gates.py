"""Issue 14's "tried as a new user would", on the local world with the shipped promotion.yaml:
the soak counts from the forge's time of the cluster's status, whatever date a commit carries,
and a freeze window stops the nightly release of a promotion a person merged during it.

(The other bullets, and where each is tested: docs/deployment-confirmation.md, "Issue 14's
done-when, and the tests that hold it".)
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import api
from bot.core.confirm import zulu
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git

# staging's weekend window: Friday 18:00 UTC for 62 h (prod's opens at 12:00)
FRIDAY_MORNING = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
FRIDAY_NIGHT = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def _seeded(world: GitOpsWorld) -> str:
    """v1 + image 1 everywhere; then an app commit, image 2 and model v2 (better)."""
    world.register_model(0.95)
    world.seed_repo(tag=world.push_image(world.init_repo()), model_version=1)
    tag2 = world.push_image(world.app_commit("app: faster predict"))
    world.register_model(0.96)
    return tag2


def _staging(world: GitOpsWorld, now: datetime) -> tuple[bool, str]:
    """Whether `plan` at `now` proposes staging, and its reasons."""
    result = api.make_plan(api.connect(world.settings()), now)[1].env("staging")
    return result.promotion is not None, " ".join(result.reasons)


@pytest.mark.parametrize("skew", [timedelta(days=-3), timedelta(days=3)], ids=["behind", "ahead"])
def test_a_commit_dated_by_a_skewed_clock_moves_the_soak_not_at_all(
    world: GitOpsWorld, skew: timedelta
):
    """A dev overlay commit dated three days off (backdated, or an operator's clock ahead):
    once dev's release is confirmed, staging is eligible exactly `soak` after the forge's
    time of that status, neither earlier nor later."""
    tag2 = _seeded(world)
    now = world.open_clock()
    world.pull()
    world.pin("dev", tag2, 2)
    dated = (now + skew).isoformat()
    subprocess.run(
        ["git", "commit", "-q", "-am", "dev: new pins, dated by a skewed clock"],
        cwd=world.seed,
        env={**os.environ, "GIT_COMMITTER_DATE": dated, "GIT_AUTHOR_DATE": dated},
        check=True,
    )
    git(world.seed, "push", "-q", "origin", "main")
    assert _staging(world, now)[0] is False  # merged, not released: no soak at all

    confirmed = world.ship("dev", now)
    eligible = confirmed + timedelta(hours=1)  # the shipped staging soak
    # soak is measured on the forge's clock (its `Date`): move it with the bot's
    proposed, reasons = _staging(world, world.at(eligible - timedelta(seconds=30)))
    assert not proposed and f"eligible at {zulu(eligible)}" in reasons
    assert _staging(world, world.at(eligible))[0] is True


def test_a_promotion_merged_during_a_freeze_is_not_released_until_it_ends(world: GitOpsWorld):
    """Staging's PR opened before its weekend window, merged by a person inside it: the
    nightly release that night leaves `release/staging` where it was; Monday's moves it."""
    _seeded(world)
    world.github.set_clock_offset((FRIDAY_MORNING - datetime.now(UTC)).total_seconds())
    world.merge_dev(FRIDAY_MORNING)
    confirmed = world.ship("dev", FRIDAY_MORNING)

    opened = next(  # Friday 09:xx: soaked an hour in dev, no window open yet
        o
        for o in api.run(world.settings(), now=world.at(confirmed + timedelta(hours=1))).outcomes
        if o.env == "staging"
    )
    assert opened.action == "push+create", opened.reason
    forge = api.connect(world.settings()).forge
    pr = forge.get_pr(int(str(opened.pr_number)))
    forge.merge_pr(pr.number, sha=pr.head_sha)  # a person merges it Friday evening
    main_sha = git(world.remote, "rev-parse", "refs/heads/main").strip()

    night = api.release(world.settings(), today=FRIDAY_NIGHT.date(), now=FRIDAY_NIGHT)
    staging = next(d for d in night.envs if d.env == "staging")
    assert staging.action == "wait"
    assert "staging is frozen: window 'weekend' open until 2026-11-23T08:00:00+00:00" in (
        staging.reason
    )
    assert git(world.remote, "branch", "--list", "release/staging") == ""

    monday = api.release(world.settings(), today=MONDAY_MORNING.date(), now=MONDAY_MORNING)
    assert next(d for d in monday.envs if d.env == "staging").action == "release", monday.envs
    assert git(world.remote, "rev-parse", "refs/heads/release/staging").strip() == main_sha
