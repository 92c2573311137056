"""What the shell reads for the soak from the local GitHub (issue 14): the forge's clock with
the statuses (its `Date`, moved by the server's clock seam), and the bot's own identity, so
only the bot's `promotion/release/<env>` counts whatever `DEPLOY_STATUS_CREATORS` lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.github import GitHubForge
from bot.core.confirm import ConfirmMode, confirmation, release_context
from bot.deployments import statuses_of
from bot.forge import CommitStatus, StatusState
from localworld.github import LocalGitHub
from tests.conftest import GITHUB_TEST_TOKEN, git


def _commit(github: LocalGitHub, tmp_path: Path) -> tuple[str, str]:
    name = f"modelops/own-{uuid.uuid4().hex[:8]}"
    remote = github.create_repo(name)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("x\n")
    git(tmp_path, "add", "f")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "c")
    git(tmp_path, "push", "-q", str(remote), "main")
    return name, git(tmp_path, "rev-parse", "HEAD").strip()


def test_the_release_status_counts_from_the_bot_alone_on_the_forge_clock(
    github: LocalGitHub, tmp_path: Path
):
    name, sha = _commit(github, tmp_path)
    github.add_token("lw-person-token", [name], login="reviewer-1")
    bot = GitHubForge(github.url, GITHUB_TEST_TOKEN, name, retries=0)
    person = GitHubForge(github.url, "lw-person-token", name, retries=0)
    ahead = timedelta(hours=3)
    github.set_clock_offset(ahead.total_seconds())  # the forge's clock, not the test's
    released = CommitStatus(release_context("dev"), StatusState.SUCCESS, "moved")
    person.create_status(sha, released)  # a person fakes "the ref moved", first
    bot.create_status(sha, released)
    allowlist = frozenset({"modelops-deploy-status[bot]", "reviewer-1"})  # not the bot

    before = datetime.now(UTC)
    read = statuses_of(bot, [sha], allowlist)
    assert read.own == "localworld-bot" and read.read_at is not None
    # its `Date`, stamped after `before` on a clock 3 h ahead (whole seconds: at most 1 s less)
    assert read.read_at >= before + ahead - timedelta(seconds=1)
    found = confirmation("dev", read, ConfirmMode.RELEASE)
    assert found.evidence is not None and found.evidence.creator == "localworld-bot"
    assert [s.creator for s in found.ignored] == ["reviewer-1"]
