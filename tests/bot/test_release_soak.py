"""The nightly release on the shipped policy and overlays (issue 14.3): a change outside the
pins (here the base) soaks in dev before staging ships it, and a later environment's first
release adopts the pins its own cluster already confirmed running (a status on the commit the
legacy single `release` branch was at) instead of waiting for its next promotion."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import api
from bot.core.confirm import zulu
from bot.release import ReleaseDecision
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def _night(world: GitOpsWorld, now: datetime) -> ReleaseDecision:
    night = api.release(world.settings(), today=now.date(), now=now)
    assert night.action != "blocked", night.reason
    return night


def _actions(night: ReleaseDecision) -> dict[str | None, str]:
    return {d.env: d.action.value for d in night.envs}


def _reason(night: ReleaseDecision, env: str) -> str:
    return next(d.reason for d in night.envs if d.env == env)


def _ref(world: GitOpsWorld, name: str) -> str:
    return git(world.remote, "rev-parse", f"refs/heads/{name}").strip()


def test_a_base_change_ships_to_staging_only_once_dev_confirmed_it_for_the_soak(
    world: GitOpsWorld,
):
    world.seed_with_dev_due()
    now = world.open_clock()
    first = _night(world, now)
    assert _actions(first) == {"dev": "release", "staging": "wait", "prod": "wait"}
    assert "soak in dev of everything it renders (a first release)" in _reason(first, "staging")
    confirmed = world.status_time(world.flux_reports("dev"))
    second = _night(world, world.at(confirmed + timedelta(hours=1)))
    assert _actions(second) == {"dev": "noop", "staging": "release", "prod": "wait"}

    # a change to the base every overlay renders: no pin moves, yet staging must not ship it
    # before dev ran it (the same night dev ships it, dev's status cannot exist yet)
    world.pull()
    pdb = world.seed / "deploy" / "base" / "pdb.yaml"
    pdb.write_text(pdb.read_text().replace("  labels:\n", "  labels:\n    tier: serving\n", 1))
    git(world.seed, "commit", "-q", "-am", "base: label the disruption budget")
    git(world.seed, "push", "-q", "origin", "main")
    change = world.head()
    staging_before = _ref(world, "release/staging")
    third = _night(world, confirmed + timedelta(hours=3))
    assert _actions(third) == {"dev": "release", "staging": "wait", "prod": "wait"}
    reason = _reason(third, "staging")
    assert f"1 change(s) outside the pins since {staging_before[:12]}, newest {change[:12]}" in (
        reason
    )
    assert reason.endswith("dev has not confirmed running them (no deployment status)")
    assert _ref(world, "release/staging") == staging_before

    ran = world.status_time(world.flux_reports("dev"))  # dev's Flux applied the change
    soaking = _night(world, ran + timedelta(minutes=10))
    assert _actions(soaking)["staging"] == "wait"
    assert f"eligible at {zulu(ran + timedelta(hours=1))}" in _reason(soaking, "staging")
    failed = world.flux_reports("dev", "failure")  # ... then a failure resets the soak
    reset = _night(world, ran + timedelta(hours=2))
    assert f"failure on {failed[:12]}" in _reason(reset, "staging")

    healed = world.status_time(world.flux_reports("dev"))
    shipped = _night(world, world.at(healed + timedelta(hours=1)))
    assert _actions(shipped) == {"dev": "noop", "staging": "release", "prod": "wait"}
    assert _ref(world, "release/staging") == _ref(world, "main")


def test_a_first_release_adopts_the_pins_the_environments_own_cluster_confirmed(
    world: GitOpsWorld,
):
    tag1 = world.push_image(world.init_repo())
    world.register_model(0.95)
    legacy = world.seed_repo(tag=tag1, model_version=1)
    # before issue 14 one `release` branch carried every environment, tagged on each move
    git(world.seed, "tag", "-a", "release-20261120", "-m", "Nightly release", legacy)
    git(world.seed, "push", "-q", "origin", "release-20261120")
    world.push_image(world.app_commit("app: faster predict"))
    world.register_model(0.96)
    now = world.open_clock()
    # the clusters, still on the legacy branch, said what they run: staging healthy; prod
    # healthy, then failing
    world.flux_reports("staging", sha=legacy)
    world.flux_reports("prod", sha=legacy)
    world.flux_reports("prod", "failure", sha=legacy)
    world.merge_dev(now)  # dev's next pins: dev never runs staging's under release/dev

    night = _night(world, now)
    assert _actions(night) == {"dev": "release", "staging": "release", "prod": "wait"}
    adopted = _reason(night, "staging")
    assert "first release/staging: staging's own cluster already runs these pins" in adopted
    assert f"kustomization/modelops-staging/aks-modelops success on {legacy[:12]}" in adopted
    tag = next(d.tag for d in night.envs if d.env == "staging")
    message = git(world.remote, "tag", "-l", "--format=%(contents)", str(tag))
    assert "staging's own cluster already runs these pins" in message  # the audit trail
    # prod's cluster failed since its success: nothing adopted, it waits for staging's soak
    assert "soak in staging:" in _reason(night, "prod")
    assert "own cluster" not in _reason(night, "prod")


def test_the_status_repair_vouches_only_for_a_tip_the_nightly_release_moved_there(
    world: GitOpsWorld,
):
    """`promotion/release/<env>` says the nightly release moved the ref there, and `confirm:
    release` soaks from it: a tip someone pushed by hand, off main, gets no status."""
    world.seed_with_dev_due()
    now = world.open_clock()
    assert _actions(_night(world, now))["dev"] == "release"
    world.pull()
    git(world.seed, "checkout", "-q", "-b", "by-hand")
    pdb = world.seed / "deploy" / "base" / "pdb.yaml"
    pdb.write_text(pdb.read_text().replace("  labels:\n", "  labels:\n    by: hand\n", 1))
    git(world.seed, "commit", "-q", "-am", "base: never reviewed, never on main")
    off_main = world.head()
    git(world.seed, "push", "-q", "-f", "origin", f"{off_main}:refs/heads/release/dev")
    git(world.seed, "checkout", "-q", "main")

    night = api.release(world.settings(), today=now.date(), now=now)
    assert _actions(night)["dev"] == "blocked"
    assert api.connect(world.settings()).forge.list_statuses(off_main) == []
    [refused] = night.statuses
    assert (refused.env, refused.outcome) == ("dev", "refused")
    assert f"on {off_main[:12]}: release/dev's tip is not on main" in refused.message
