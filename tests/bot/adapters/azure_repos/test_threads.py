"""Comments as threads, and closing a PR with one (`bot.adapters.azure_repos.threads`)."""

from __future__ import annotations

from tests.bot.adapters.azure_repos.conftest import forge_on, open_pr
from tests.conftest import AZURE_REPOS_BOT


def test_update_comment_close_and_rejected_prs(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    pr = open_pr(forge)
    forge.update_pr(pr.number, title="promote(dev): v2", body="new body", add_labels=["promotion"])
    forge.comment(pr.number, "automerge stopped: ci/test failed")
    updated = forge.get_pr(pr.number)
    assert (updated.title, updated.body, updated.labels) == (
        "promote(dev): v2",
        "new body",
        ("promotion",),
    )
    forge.close_pr(pr.number, "Closed by promotion-bot: no longer needed")
    comments = forge.comments(pr.number)
    assert [c.body for c in comments] == [
        "automerge stopped: ci/test failed",
        "Closed by promotion-bot: no longer needed",
    ]
    assert {c.author for c in comments} == {AZURE_REPOS_BOT}
    closed = forge.get_pr(pr.number)
    assert (closed.state, closed.merged) == ("closed", False)
    assert [p.number for p in forge.closed_prs("promote/dev", "main")] == [pr.number]
    assert forge.find_open_pr("promote/dev", "main") is None
