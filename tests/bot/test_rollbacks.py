"""Rollbacks stick (issue 15.2), end to end with the shipped `promotion.yaml` and overlays on
the local world: a person's `git revert` of a promotion on main is not undone by the next run;
a newer candidate is proposed, with a note naming the rollback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from github import Auth, Github

from bot import api, runner
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld, literal
from tests.conftest import git

NOW = datetime.now(UTC)


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    gw.seed_with_dev_due()  # automerge: as shipped
    return gw


def _dev(report: runner.RunReport) -> runner.EnvOutcome:
    return next(o for o in report.outcomes if o.env == "dev")


def _revert_last_merge(world: GitOpsWorld) -> str:
    """A person reverts the merged promotion on main (`git revert -m 1`), as in the issue."""
    world.pull()
    git(world.seed, "revert", "--no-edit", "-m", "1", "HEAD")
    git(world.seed, "push", "-q", "origin", "main")
    return world.head()


def test_a_reverted_promotion_is_not_proposed_again_and_a_newer_image_is_with_a_note(
    world: GitOpsWorld,
):
    tag2 = "0.1.0-2-" + world.head()[:7]
    world.merge_dev(NOW)  # the PR, CI green on its head, merged by the next run
    assert f"newTag: {tag2}" in world.overlay_on("main", "dev")

    revert = _revert_last_merge(world)
    assert f"newTag: {tag2}" not in world.overlay_on("main", "dev")

    since, refs = world.github.last_seq(), git(world.remote, "for-each-ref")
    again = api.run(world.settings(), now=NOW)
    dev = _dev(again)
    assert dev.action == "none", dev.reason
    assert f"image {tag2} was rolled back by {revert[:12]}" in dev.reason
    assert not again.wrote
    assert world.github.writes(since) == []  # zero writes: a rejected candidate is not news
    assert git(world.remote, "for-each-ref") == refs  # and no push
    assert f"newTag: {tag2}" not in world.overlay_on("main", "dev")
    _, planned = api.make_plan(api.connect(world.settings()), NOW)
    assert next(e for e in planned.envs if e.env == "dev").promotion is None

    tag3 = world.push_image(world.app_commit("app: fix the regression"))
    newer = _dev(api.run(world.settings(), now=NOW))
    assert newer.label == "push+create", newer.reason
    world.ci_reports("dev")
    assert _dev(api.run(world.settings(), now=NOW)).label == "merged"
    overlay = world.overlay_on("main", "dev")
    assert f"newTag: {tag3}" in overlay
    assert literal(overlay, "MODEL_VERSION") == "1"  # the rolled-back model stays rejected
    person = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
    assert newer.pr_number is not None
    body = person.get_repo(world.repo_name).get_pull(newer.pr_number).body
    assert f"an earlier candidate, image {tag2} was rolled back by {revert[:12]}" in body


def test_a_person_setting_the_rejected_pins_again_approves_them(world: GitOpsWorld):
    tag2 = "0.1.0-2-" + world.head()[:7]
    world.merge_dev(NOW)
    _revert_last_merge(world)
    world.pull()
    world.pin("dev", tag2, 2)  # `promotion-bot set` by a person, forward to the same pins
    git(world.seed, "commit", "-q", "-am", "dev: back to 0.1.0-2, the fix was elsewhere")
    git(world.seed, "push", "-q", "origin", "main")
    since = world.github.last_seq()
    dev = _dev(api.run(world.settings(), now=NOW))
    assert dev.action == "none" and "rolled back" not in dev.reason, dev.reason
    assert world.github.writes(since) == []
