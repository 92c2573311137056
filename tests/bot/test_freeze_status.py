"""Freezes at merge too (issue 14.4): `promotion/freeze` on a promotion PR's head, against the
local GitHub, with the SHIPPED promotion.yaml's windows (staging: Friday 18:00 UTC for 62h)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import api
from bot.freeze_status import sync_freeze_statuses
from bot.policy import load_policy
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import PROJECT, GitOpsWorld
from tests.conftest import git

SHIPPED = load_policy(PROJECT / "promotion.yaml")
FRIDAY_EVENING = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)  # staging's weekend window is open
MONDAY_MORNING = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # closed at 08:00


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def test_a_frozen_environments_pr_fails_promotion_freeze_until_the_window_closes(
    world: GitOpsWorld,
):
    tag = world.push_image(world.init_repo())
    world.register_model(0.95)
    world.seed_repo(tag=tag, model_version=1)
    git(world.seed, "checkout", "-q", "-b", "promote/staging")
    (world.seed / "NOTE.md").write_text("a staging promotion\n")
    git(world.seed, "add", "NOTE.md")
    git(world.seed, "commit", "-q", "-m", "promote(staging): something")
    git(world.seed, "push", "-q", "origin", "promote/staging")
    head = world.head()
    forge = api.connect(world.settings()).forge
    forge.create_pr(title="Promote staging", body="b", head="promote/staging", base="main")

    assert sync_freeze_statuses(forge, SHIPPED, "main", FRIDAY_EVENING) == ["staging: failure"]
    (status,) = forge.list_statuses(head)
    assert (status.context, status.state.value) == ("promotion/freeze", "failure")
    assert status.description == "frozen: window 'weekend' open until 2026-11-30T08:00:00Z"

    since = world.github.last_seq()  # nothing changed: nothing written
    assert sync_freeze_statuses(forge, SHIPPED, "main", FRIDAY_EVENING) == []
    assert world.github.writes(since) == []

    assert sync_freeze_statuses(forge, SHIPPED, "main", MONDAY_MORNING) == ["staging: success"]
    assert forge.head_checks(head) == {"promotion/freeze": "success"}
    since = world.github.last_seq()
    assert sync_freeze_statuses(forge, SHIPPED, "main", MONDAY_MORNING) == []
    assert world.github.writes(since) == []
