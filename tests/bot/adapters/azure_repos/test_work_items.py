"""The release-blocked record and the dashboard as work items
(`bot.adapters.azure_repos.work_items`)."""

from __future__ import annotations

import html

import pytest

from bot.adapters.azure_repos.work_items import _markdown
from tests.bot.adapters.azure_repos.conftest import forge_on
from tests.conftest import AZURE_REPOS_BOT


def test_the_release_blocked_record_is_a_tagged_work_item(azure_repos, repo):
    name, _ = repo
    forge = forge_on(azure_repos, name)
    assert forge.find_open_issue(label="release-blocked") is None
    issue = forge.create_issue("release blocked", "**bad pin** <!-- m -->", ["release-blocked"])
    assert (issue.state, issue.labels, issue.body) == (
        "open",
        ("release-blocked",),
        "**bad pin** <!-- m -->",
    )
    assert forge.find_open_issue(label="release-blocked", marker="<!-- other -->") is None
    forge.update_issue(issue.number, "still <b>bad</b> <!-- m -->")
    found = forge.find_open_issue(label="release-blocked", marker="<!-- m -->")
    assert found is not None and found.body == "still <b>bad</b> <!-- m -->"
    assert issue.author and found.author == issue.author  # System.CreatedBy's unique name
    assert forge.find_open_issue(label="release-blocked", author="someone-else") is None
    assert forge.identity() is None  # not told (AZURE_REPOS_BOT_IDENTITY): the dashboard says so
    told = forge_on(azure_repos, name, bot_identity=AZURE_REPOS_BOT)
    assert issue.author == told.identity() == AZURE_REPOS_BOT  # the build service's name
    assert told.find_open_issue(label="release-blocked", author=told.identity()) == found
    forge.close_issue(issue.number, "released")
    assert forge.find_open_issue(label="release-blocked") is None


_BOX = "- [ ] <!-- promotion-bot:dashboard hold staging --> hold **staging**"


@pytest.mark.parametrize(
    "saved",
    [
        # the bot's own form: the markdown escaped in one <pre>
        "<pre>intro\n" + html.escape(_BOX.replace("[ ]", "[x]"), quote=False) + "\n</pre>",
        # the web editor after a tick: one <div> a line, &nbsp; for leading spaces, <br>
        "<div>intro</div><div>"
        + html.escape(_BOX.replace("[ ]", "[x]"), quote=False)
        + "</div><div><br></div>",
        "<pre>intro<br>"
        + html.escape(_BOX.replace("[ ]", "[X]"), quote=False)
        + "<br></pre><div><br></div>",
        '<div style="">intro<br>&nbsp;'
        + html.escape(_BOX.replace("[ ]", "[x]"), quote=False).replace(
            "**staging**", "<b>staging</b>"
        )
        + "</div>",
    ],
)
def test_a_tick_saved_as_the_web_editors_html_is_read(saved: str):
    """Azure Boards' rich-text editor rewrites the bot's `<pre>` as it saves (mocked here: the
    local Azure Repos stores what it is sent; these are the shapes the editor writes)."""
    from bot import dashboard

    body = _markdown(saved)
    assert dashboard.ticked(body, ["staging"]) == [dashboard.Ask("hold", "staging")]
    assert body.splitlines()[0] == "intro"
