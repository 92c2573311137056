"""`promotion-bot hold` / `unhold`: a reviewed PR on `deploy/holds.yaml`; a merged hold stops
promotion PRs for its environment; asking again for what main or the open PR already says
writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from github import Auth, Github

from bot import api
from bot.cli import main
from bot.core.policy import Hold, HoldScope
from bot.holds import HOLDS_FILE, parse_holds
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git

NOW = datetime.now(UTC)
HOLD = Hold(HoldScope.ALL, "incident 42: wait for the postmortem", "ann")


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    gw.seed_with_dev_due()
    return gw


def _merge(world: GitOpsWorld, number: int) -> None:
    person = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
    person.get_repo(world.repo_name).get_pull(number).merge(merge_method="merge")


def test_a_merged_hold_stops_promotion_prs_until_it_is_lifted(world: GitOpsWorld):
    proposed = api.hold(world.settings(), "dev", HOLD)
    assert proposed.action == "push+create" and proposed.pr_number is not None
    on_branch = parse_holds(world.remote_file("hold/dev", HOLDS_FILE))
    assert on_branch == {"dev": HOLD}
    since = world.github.last_seq()
    again = api.hold(world.settings(), "dev", HOLD)
    assert (again.action, again.pr_number) == ("noop", proposed.pr_number)
    assert world.github.writes(since) == []

    _merge(world, proposed.pr_number)  # a person reviews and merges the hold
    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "hold" and "everything held by ann: incident 42" in dev.reason
    assert "promote/dev" not in api.connect(world.settings()).forge.open_prs("main", "promote/")
    since, refs = world.github.last_seq(), git(world.remote, "for-each-ref")
    assert not api.run(world.settings(), now=NOW).wrote  # zero writes while held
    assert world.github.writes(since) == []  # the local GitHub's request log
    assert git(world.remote, "for-each-ref") == refs  # and no push
    row = next(r for r in api.status(world.settings(), now=NOW) if r.env == "dev")
    assert row.hold == HOLD
    assert api.hold(world.settings(), "dev", HOLD).action == "noop"  # main says so already

    lifted = api.hold(world.settings(), "dev", None)
    assert lifted.action == "push+create" and lifted.pr_number is not None
    assert parse_holds(world.remote_file("hold/dev", HOLDS_FILE)) == {}
    _merge(world, lifted.pr_number)
    dev = next(o for o in api.run(world.settings(), now=NOW).outcomes if o.env == "dev")
    assert dev.action == "push+create"


def test_the_cli_refuses_bad_input_with_usage_errors_and_prints_json(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    for args, message in (
        (["hold", "dev"], "Missing option '--reason'"),
        (["hold", "dev", "--reason", " ", "--by", "ann"], "a hold needs a reason"),
        (["hold", "dev", "--reason", "x", "--by", "ann", "--until", "soon"], "give a time"),
        (["hold", "dev", "--reason", "x", "--by", "ann", "--until", "2001-01-01T00:00Z"],
         "is not in the future"),
        (["hold", "dev", "--reason", "x", "--by", "ann", "--until", "2999-01-01T00:00"],
         "give the time zone"),
        (["hold", "dev", "--reason", "x", "--by", "two words"], "must be one word"),
        (["hold", "qa", "--reason", "x", "--by", "ann"], "unknown environment 'qa'"),
        (["unhold", "qa"], "unknown environment 'qa'"),
    ):  # fmt: skip
        assert main(args) == 2, args
        captured = capsys.readouterr()
        assert message in captured.err + captured.out, (args, captured)
    args = ["hold", "dev", "--model", "--reason", "new model looks off", "--until", "2d", "--json"]
    monkeypatch.setenv("USER", "ann")
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["action"], data["env"]) == ("push+create", "dev")
    held = parse_holds(world.remote_file("hold/dev", HOLDS_FILE))["dev"]
    assert (held.scope, held.by) == (HoldScope.MODEL, "ann") and held.until is not None
    assert main(["unhold", "dev"]) == 0  # main has no hold: the open hold PR is closed
    assert capsys.readouterr().out.startswith("dev: close (PR #")
