"""`promotion-bot status` tells when each environment's release ref may move (issue 14.6), on
the shipped promotion.yaml: the nightly release's own gate, asked of origin's main, with the
time in the environment's zone and UTC; the forge's clock decides when the soak is over."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot import api, render
from bot.core.confirm import zulu
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld

LISTING = re.compile(r"/statuses/(?P<sha>[0-9a-f]{40})$")  # GitHub's list of a commit's


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def _status(world: GitOpsWorld, now: object) -> tuple[dict[str, dict[str, str]], Counter[str]]:
    """Each environment's `status --json` fields, and the status listings it made by commit."""
    since = world.github.last_seq()
    rows = api.status(world.settings(), now=now)  # type: ignore[arg-type]
    listed = Counter(
        found["sha"]
        for r in world.github.requests(since)
        if r["method"] == "GET" and (found := LISTING.search(r["path"].split("?")[0]))
    )
    return {row.env: render.status_fields(row) for row in rows}, listed


def test_status_says_when_stagings_release_waits_for_devs_soak_then_that_it_can(
    world: GitOpsWorld,
):
    world.seed_with_dev_due()
    now = world.open_clock()
    night = api.release(world.settings(), today=now.date(), now=now)
    assert {d.env: d.action.value for d in night.envs}["dev"] == "release"
    dev_tip = world.flux_reports("dev")  # dev's Flux applied release/dev, healthy
    eligible = world.status_time(dev_tip) + timedelta(hours=1)  # the shipped staging soak

    fields, listed = _status(world, world.at(eligible - timedelta(minutes=50)))
    assert fields["dev"]["release"] == "released up to date"
    staging = fields["staging"]
    assert staging["release"].startswith("release waits: soak in dev: dev confirmed healthy for")
    assert staging["release"].endswith(f"; eligible at {zulu(eligible)}")  # staging is on UTC
    assert (staging["release_waits"], staging["release_eligible_at"]) == (
        "soak, first-release",
        zulu(eligible),
    )
    assert "release/staging not moved" not in staging["release"]  # the gate's words, not more
    prod = fields["prod"]
    assert prod["release"].startswith("release waits: soak in staging: release/staging does not")
    assert prod["release"].endswith("eligible: not yet known (no confirmation yet)")
    # the nightly would ask the same of release/dev's tip: status lists no commit twice
    assert listed and max(listed.values()) == 1, listed

    fields, _ = _status(world, world.at(eligible + timedelta(seconds=1)))
    assert fields["staging"]["release"].startswith("can release: the next nightly release moves")
    assert fields["staging"]["release_eligible_at"] == "none"
    later = eligible + timedelta(seconds=1)
    moved = api.release(world.settings(), today=later.date(), now=later)
    assert {d.env: d.action.value for d in moved.envs}["staging"] == "release"  # as status said
