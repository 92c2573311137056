"""The overlay history the report and the dashboard show: only the bot's own commits are
believed when their subject says `Rollback ...` or names a PR `(#N)`."""

from __future__ import annotations

from bot import dashboard
from bot.report.history import read_changes
from bot.wiring import connect
from bot.world import read_policy
from tests.bot.gitops_world import GitOpsWorld
from tests.bot.report.conftest import FAKE_ROLLBACK_SUBJECT


def test_a_persons_rollback_subject_is_a_manual_change_and_its_number_inert(
    report_world: GitOpsWorld,
):
    settings = report_world.settings()
    services = connect(settings)
    repo = services.repo
    ref = "refs/remotes/origin/main"
    policy = read_policy(repo, ref, settings.policy_file, settings.registry_host)
    # the promotion was squash-merged: its author is the bot's account on the forge
    assert read_changes(repo, ref, policy)["dev"][0].kind == "change"  # git identity alone
    changes = read_changes(repo, ref, policy, is_bot=services.bot_author())
    fake = changes["staging"][0]
    assert fake.subject == FAKE_ROLLBACK_SUBJECT
    assert (fake.kind, fake.pr, fake.by_bot) == ("change", 1, False)
    promotion = changes["dev"][0]
    assert promotion.kind == "promotion" and promotion.by_bot and promotion.pr is not None
    rows = {c.sha: dashboard._change_row(c) for c in (fake, promotion)}
    assert "| manual change | \\#&#8203;1 |" in rows[fake.sha]  # inert: no link
    assert f"| promotion | #{promotion.pr} |" in rows[promotion.sha]
