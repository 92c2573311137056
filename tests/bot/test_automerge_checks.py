"""Automerge waits for the PR head's checks: commit statuses posted to the local GitHub.

The shipped policy (dev automerges, no `required_checks`): every check reported on the head
counts, and a head with none reported waits. A policy naming `required_checks` waits for those;
`required_checks: []` needs none. A head the bot pushed in a run is never merged in that run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import api, runner
from bot.core.pr_action import PUSHED_WAITS
from bot.forge import CommitStatus, StatusState
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld, literal
from tests.conftest import git

NOW = datetime.now(UTC)


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    gw.seed_with_dev_due()
    return gw


def _dev(world: GitOpsWorld) -> runner.EnvOutcome:
    report = api.run(world.settings(), now=NOW)
    return next(o for o in report.outcomes if o.env == "dev")


def _report(world: GitOpsWorld, sha: str, context: str, state: StatusState) -> None:
    api.connect(world.settings()).forge.create_status(sha, CommitStatus(context, state))


def test_automerge_waits_for_pending_checks_says_once_they_failed_and_merges_once_green(
    world: GitOpsWorld,
):
    first = _dev(world)
    assert first.action == "push+create" and first.reason.endswith(PUSHED_WAITS)
    forge = api.connect(world.settings()).forge
    assert first.pr_number is not None
    head = forge.get_pr(first.pr_number).head_sha

    _report(world, head, "ci/test", StatusState.SUCCESS)
    _report(world, head, "ci/lint", StatusState.PENDING)
    since = world.github.last_seq()
    waiting = _dev(world)
    assert (waiting.action, waiting.reason) == ("noop", "automerge waits: waiting for ci/lint")
    assert world.github.writes(since) == []  # pending: try again next run, write nothing

    _report(world, head, "ci/lint", StatusState.FAILURE)
    stopped = _dev(world)
    assert (stopped.action, stopped.reason) == (
        "comment-checks",
        "automerge stopped: ci/lint failed",
    )
    said = [c.body for c in forge.comments(first.pr_number)]
    assert len(said) == 1 and "will not automerge" in said[0] and head[:12] in said[0]
    since = world.github.last_seq()
    again = _dev(world)
    assert again.action == "noop" and "already said so" in again.reason
    assert world.github.writes(since) == []  # said once
    assert literal(world.overlay_on("main", "dev"), "MODEL_VERSION") == "1"

    _report(world, head, "ci/lint", StatusState.SUCCESS)  # re-run, green
    merged = _dev(world)
    assert merged.label == "merged", merged.reason
    assert literal(world.overlay_on("main", "dev"), "MODEL_VERSION") == "2"


def test_named_required_checks_hold_even_a_head_pushed_in_the_same_run(world: GitOpsWorld):
    world.pull()
    policy = world.seed / "promotion.yaml"
    text = policy.read_text()
    policy.write_text(
        re.sub(r"(?m)^( *)automerge: true\n", r"\g<0>\1required_checks: [ci/test]\n", text, count=1)
    )
    git(world.seed, "commit", "-q", "-am", "dev automerges once ci/test passed")
    git(world.seed, "push", "-q", "origin", "main")

    first = _dev(world)
    assert first.action == "push+create"
    assert first.reason.endswith(PUSHED_WAITS)
    assert first.pr_number is not None
    head = api.connect(world.settings()).forge.get_pr(first.pr_number).head_sha
    _report(world, head, "other", StatusState.FAILURE)  # not required: does not count
    assert _dev(world).reason == "automerge waits: waiting for ci/test"
    _report(world, head, "ci/test", StatusState.SUCCESS)
    assert _dev(world).label == "merged"


def test_required_checks_empty_merges_a_head_without_checks_on_the_next_run(world: GitOpsWorld):
    """`required_checks: []` says no check is needed: the head merges, but still not in the
    run that pushed it."""
    world.pull()
    policy = world.seed / "promotion.yaml"
    text = policy.read_text()
    policy.write_text(
        re.sub(r"(?m)^( *)automerge: true\n", r"\g<0>\1required_checks: []\n", text, count=1)
    )
    git(world.seed, "commit", "-q", "-am", "dev automerges without waiting for checks")
    git(world.seed, "push", "-q", "origin", "main")

    first = _dev(world)
    assert (first.label, first.reason.endswith(PUSHED_WAITS)) == ("push+create", True)
    merged = _dev(world)
    assert merged.label == "merged", merged.reason
    assert "no checks required" in merged.reason
