"""The promotion dashboard issue on the local GitHub: created once, rewritten only when its
content changes (the request log shows zero writes on a no-op run), a ticked box acted on
through the hold PR path and unticked."""

from __future__ import annotations

import pytest

from bot import dashboard
from bot.adapters.forges import make_forge
from bot.adapters.github import GitHubForge
from bot.cli import main
from bot.holding import HOLD_BRANCH_PREFIX
from bot.report.history import Change
from bot.runner import now_utc
from tests.bot.gitops_world import GitOpsWorld


@pytest.fixture
def world(report_world: GitOpsWorld) -> GitOpsWorld:
    """The report's world (tests/bot/report/conftest.py): dev promoted by an automerged PR,
    staging soaking, a person's edit of staging. Tests here run in order on one dashboard."""
    return report_world


def test_dashboard_is_created_once_then_a_no_op_run_writes_nothing(world: GitOpsWorld):
    first = dashboard.sync(world.settings(), now=now_utc())
    assert first.action == "create"  # the first test to sync in this world
    assert first.issue is not None
    assert "| **dev** |" in first.body
    assert "held: dev runs it" in first.body and not dashboard._ELAPSED_RE.search(first.body)
    assert "| promotion | #" in first.body  # dev's automerged promotion, with its PR
    # the run before evaluated every model it weighs on the shipped evaluation sets
    assert dashboard.section(first.body, "Models awaiting evaluation") == ["None."]
    since = world.github.last_seq()
    again = dashboard.sync(world.settings(), now=now_utc())
    assert again.action == "noop"
    assert again.issue is not None and again.issue.number == first.issue.number
    assert world.github.writes(since) == []


def test_a_ticked_hold_box_opens_the_hold_pr_and_is_unticked(world: GitOpsWorld):
    settings = world.settings()
    created = dashboard.sync(settings, now=now_utc())
    assert created.action == "noop"
    assert created.issue is not None
    box = "- [ ] <!-- promotion-bot:dashboard hold staging -->"
    assert box in created.body
    reviewer = make_forge(settings)  # a reviewer ticks the box in GitHub's editor
    reviewer.update_issue(
        created.issue.number, created.body.replace(box, box.replace("[ ]", "[x]"))
    )
    acted = dashboard.sync(settings, now=now_utc())
    [(ask, outcome)] = acted.acted
    assert ask == dashboard.Ask("hold", "staging")
    assert not isinstance(outcome, str) and outcome.action == "push+create"
    pr = reviewer.find_open_pr(f"{HOLD_BRANCH_PREFIX}staging", "main")
    assert pr is not None and pr.title.startswith("hold(staging): everything held by")
    assert "asked on the promotion dashboard (issue #" in pr.title
    assert acted.action == "update"
    issue = reviewer.find_open_issue(label=dashboard.LABEL, marker=dashboard.MARKER)
    assert issue is not None
    assert box in issue.body  # unticked
    assert f"- #{pr.number} hold(staging)" in issue.body
    since = world.github.last_seq()
    assert dashboard.sync(settings, now=now_utc()).action == "noop"
    assert world.github.writes(since) == []


def test_dashboard_cli_prints_the_environment_table(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    assert main(["dashboard", "--show"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dashboard: noop issue #")
    assert out[1].startswith("| Environment | On main |")
    assert [line.split(" | ")[0] for line in out[3:6]] == [
        "| **dev**",
        "| **staging**",
        "| **prod**",
    ]


def test_a_labelled_issue_someone_else_opened_is_ignored_never_acted_on(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys
):
    """Triage can close the bot's issue and open a labelled one with the marker: the bot
    adopts and acts on only issues its own identity opened (here its token's user)."""
    settings = world.settings()
    mine = make_forge(settings).find_open_issue(label=dashboard.LABEL, marker=dashboard.MARKER)
    assert mine is not None and mine.author == world.github.login
    world.github.add_token("mallory-token", [settings.repository], login="mallory")
    mallory = GitHubForge(world.github.url, "mallory-token", settings.repository)
    mallory.close_issue(mine.number, "tidying up")
    box = "- [x] <!-- promotion-bot:dashboard hold prod -->"
    theirs = mallory.create_issue(
        dashboard.TITLE, f"{dashboard.MARKER}\n{box}\n", [dashboard.LABEL]
    )
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    assert main(["dashboard"]) == 0
    out = capsys.readouterr().out
    assert f"ignored issue #{theirs.number} by mallory" in out
    assert "asked hold prod" not in out
    assert make_forge(settings).find_open_pr(f"{HOLD_BRANCH_PREFIX}prod", "main") is None
    ours = make_forge(settings).find_open_issue(
        label=dashboard.LABEL, marker=dashboard.MARKER, author=world.github.login
    )
    assert ours is not None and ours.number not in (mine.number, theirs.number)
    assert mallory.find_open_issue(label=dashboard.LABEL, marker=dashboard.MARKER) == theirs


# ----------------------------------------------------------------------------- pure


def test_ticked_reads_only_known_environments_once_each():
    body = "\n".join(
        [
            "- [x] <!-- promotion-bot:dashboard hold dev -->",
            "- [X] <!-- promotion-bot:dashboard hold dev --> again",
            "* [x] <!-- promotion-bot:dashboard promote prod --> promote",
            "- [ ] <!-- promotion-bot:dashboard hold staging -->",
            "- [x] <!-- promotion-bot:dashboard hold qa -->",
            "- [x] <!-- promotion-bot:dashboard merge dev -->",
            "text - [x] <!-- promotion-bot:dashboard hold staging -->",
        ]
    )
    assert dashboard.ticked(body, ["dev", "staging", "prod"]) == [
        dashboard.Ask("hold", "dev"),
        dashboard.Ask("promote", "prod"),
    ]


def test_steady_drops_elapsed_time_and_keeps_absolute_times():
    text = "held: soaking: in dev for 1h2m3s (needs 24h); ready at 2026-11-28T09:00:00+00:00"
    assert dashboard.steady(text) == (
        "held: soaking: in dev (needs 24h); ready at 2026-11-28T09:00:00+00:00"
    )


def test_body_escapes_outside_text_and_keeps_unknown_columns():
    rows = [{"env": "dev", "next_step": "a | b <!-- @team #12", "confirmed": "yes"}]
    change = Change(
        "dev", "a" * 40, now_utc(), "x", "x@y", "s", "rollback", 7, "t|1", None, "digits", 2, True
    )
    body = dashboard.render_body(rows, {"dev": True}, [], [change])
    assert "| Environment | Next step | Confirmed |" in body
    assert "a \\| b &lt;!-- @&#8203;team #&#8203;12" in body
    assert "- [ ] <!-- promotion-bot:dashboard promote dev --> promote **dev** now" in body
    assert "| rollback | #7 | t\\|1 | digits v2 |" in body
    assert body.count("<!--") == 2  # the marker and the one box: no outside text opens one


def test_body_lists_models_awaiting_evaluation_escaped():
    waiting = [("digits_<b>", 3, "digits-holdout@1", ("dev", "staging"))]
    body = dashboard.render_body([{"env": "dev"}], {}, [], [], awaiting=waiting)
    assert dashboard.section(body, "Models awaiting evaluation") == [
        "- digits\\_&lt;b&gt; v3 on `digits-holdout@1` (dev, staging): the next run evaluates it"
    ]
