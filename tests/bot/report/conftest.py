"""A GitOps world with history for the report: dev promoted (automerged) and a person's edit
of staging's overlay whose commit subject and author are hostile HTML, then one whose subject
reads like the bot's rollback PR (#1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runner import now_utc
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git

HOSTILE_SUBJECT = "</td></tr><script>alert(1)</script><!-- staging: hand edit & tidy"
# git drops `<` and `>` from names itself; quotes and `&` reach the page
HOSTILE_AUTHOR = 'Eve" onmouseover="alert(2) & co'
FAKE_ROLLBACK_SUBJECT = "Rollback staging to the approved model (#1)"


@pytest.fixture(scope="package")
def report_world(
    tmp_path_factory: pytest.TempPathFactory,
    github: LocalGitHub,
    registry: Registry,
    azurite: Azurite,
) -> Iterator[GitOpsWorld]:
    gw = GitOpsWorld(tmp_path_factory.mktemp("report"), github, registry, azurite)
    gw.seed_with_dev_due(0.97)  # the shipped policy: dev automerges
    gw.merge_dev(now_utc())  # the PR, CI green on its head, merged by the next run
    gw.pull()
    overlay = gw.seed / "deploy" / "overlays" / "staging" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + "# reviewed by hand\n")
    git(gw.seed, "add", str(overlay))
    git(gw.seed, "-c", f"user.name={HOSTILE_AUTHOR}", "commit", "-q", "-m", HOSTILE_SUBJECT)
    overlay.write_text(overlay.read_text() + "# and again\n")  # a person's words, not the bot's
    git(gw.seed, "commit", "-q", "-am", FAKE_ROLLBACK_SUBJECT)
    git(gw.seed, "push", "-q", "origin", "main")
    yield gw


@pytest.fixture(scope="package")
def report_page(report_world: GitOpsWorld) -> Path:
    """The report the CLI writes for that world (under the world's temporary root)."""
    from bot.report import write_report

    return write_report(report_world.settings(), now=now_utc(), out=report_world.root / "report")
