"""A blocked nightly release is reported as ONE GitHub issue, on the real local world.

Blocked → one `release-blocked` issue listing the problems; blocked again the same way → no
GitHub write at all; other problems → the same issue rewritten; fixed → `release/dev` moves and the
issue is closed with a comment naming the tag. GitHub being down, or no token, never changes the
release outcome or the exit code.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from github import Auth, Github
from github.Issue import Issue

from bot import api, nightly
from bot.cli import main
from bot.release import ISSUE_LABEL, ReleaseAction, ReleaseDecision, ReleaseProblem
from localworld.github import LocalGitHub
from localworld.process import LOOPBACK, free_port
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git

TODAY = date(2026, 11, 25)
PROD = "deploy/overlays/prod/kustomization.yaml"
STAGING = "deploy/overlays/staging/kustomization.yaml"


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    tag = gw.push_image(gw.init_repo())
    gw.register_model(0.95)
    gw.seed_repo(tag=tag, model_version=1)
    return gw


def _edit_main(world: GitOpsWorld, overlay: str, old: str, new: str, message: str) -> None:
    world.pull()
    path = world.seed / overlay
    path.write_text(path.read_text().replace(old, new))
    git(world.seed, "commit", "-q", "-am", message)
    git(world.seed, "push", "-q", "origin", "main")


def _pin_missing_digest(world: GitOpsWorld, overlay: str, fill: str) -> str:
    """Pin a digest that was never pushed; return the good one it replaced."""
    good = next(iter(world.digests.values()))
    _edit_main(world, overlay, good, f"sha256:{fill * 64}", f"pin a missing digest in {overlay}")
    return good


def _repo(world: GitOpsWorld):
    gh = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
    return gh.get_repo(world.repo_name)


def _blocked_issues(world: GitOpsWorld) -> list[Issue]:
    return [
        i
        for i in _repo(world).get_issues(state="all", labels=[ISSUE_LABEL])
        if i.pull_request is None
    ]


def _writes(world: GitOpsWorld, since: int) -> list[tuple[str, str]]:
    return [(w["method"], w["path"]) for w in world.github.writes(since)]


def test_blocked_release_is_reported_once_updated_when_it_changes_closed_when_released(
    world: GitOpsWorld,
):
    good = _pin_missing_digest(world, PROD, "e")
    main_sha = git(world.remote, "rev-parse", "main").strip()
    since = world.github.last_seq()
    first = api.release(world.settings(), today=TODAY)
    assert first.action == "blocked"
    assert first.report is not None
    assert first.report.action == "created"
    issues_path = f"/repos/{world.repo_name}/issues"
    assert _writes(world, since) == [("POST", issues_path)]
    [issue] = _blocked_issues(world)
    assert first.report.url == issue.html_url
    assert issue.state == "open"
    assert issue.title == "Nightly release blocked"
    assert f"`{PROD}`" in issue.body
    assert "e" * 64 in issue.body
    assert main_sha in issue.body
    assert "Re-run `promotion-bot release`" in issue.body
    assert world.github.token not in issue.body

    since = world.github.last_seq()
    again = api.release(world.settings(), today=TODAY)
    assert again.action == "blocked"
    assert again.report is not None
    assert again.report.action == "unchanged"
    assert _writes(world, since) == []

    _pin_missing_digest(world, STAGING, "f")
    since = world.github.last_seq()
    changed = api.release(world.settings(), today=TODAY)
    assert changed.report is not None
    assert changed.report.action == "updated"
    assert _writes(world, since) == [("PATCH", f"{issues_path}/{issue.number}")]
    [same] = _blocked_issues(world)
    assert same.number == issue.number
    assert f"`{STAGING}`" in same.body
    assert "f" * 64 in same.body
    assert "## What failed (2)" in same.body

    _edit_main(world, PROD, f"sha256:{'e' * 64}", good, "fix prod digest")
    _edit_main(world, STAGING, f"sha256:{'f' * 64}", good, "fix staging digest")
    fixed = api.release(world.settings(), today=TODAY)
    assert fixed.action == "release", fixed.problems
    assert fixed.tag == "release-dev-20261125"  # staging and prod wait for dev's cluster
    assert (
        git(world.remote, "rev-parse", "release/dev").strip()
        == git(world.remote, "rev-parse", "main").strip()
    )
    assert fixed.report is not None
    assert fixed.report.action == "closed"
    [closed] = _blocked_issues(world)
    assert (closed.number, closed.state, closed.state_reason) == (
        issue.number,
        "closed",
        "completed",
    )
    comments = [c.body for c in closed.get_comments()]
    assert len(comments) == 1
    assert "`release-dev-20261125`" in comments[0]

    since = world.github.last_seq()
    noop = api.release(world.settings(), today=TODAY)
    assert noop.action == "noop"
    assert noop.report is not None
    assert noop.report.action == "none"
    assert _writes(world, since) == []


def test_cli_says_where_it_reported_and_exits_1(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    _pin_missing_digest(world, PROD, "e")
    assert main(["release"]) == 1
    out = capsys.readouterr()
    [issue] = _blocked_issues(world)
    assert f"reported on GitHub: opened issue #{issue.number} {issue.html_url}" in out.out
    assert f"  - {PROD}: image" in out.out
    assert "release blocked: 1 problem(s)" in out.err
    assert world.github.token not in out.out + out.err

    assert main(["release"]) == 1
    assert "already reported on GitHub, nothing written" in capsys.readouterr().out


def test_github_down_changes_neither_outcome_nor_exit_code(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    good = _pin_missing_digest(world, PROD, "e")
    world.github.inject("status", status=503, path="/issues", times=1000)
    try:
        assert main(["release"]) == 1
        out = capsys.readouterr()
        assert "no release ref moved" in out.out
        assert "warning: could not post the report to GitHub" in out.err
        assert "HTTP 503" in out.err
        assert git(world.remote, "branch", "--list", "release/*") == ""

        _edit_main(world, PROD, f"sha256:{'e' * 64}", good, "fix prod digest")
        assert main(["release"]) == 0
        out = capsys.readouterr()
        assert "tagged release-" in out.out
        assert "warning: could not post the report to GitHub" in out.err
        assert (
            git(world.remote, "rev-parse", "release/dev").strip()
            == git(world.remote, "rev-parse", "main").strip()
        )
    finally:
        world.github.clear_faults()
    assert _blocked_issues(world) == []


def test_an_unreachable_github_is_reported_as_such(world: GitOpsWorld):
    _pin_missing_digest(world, PROD, "e")
    closed_port = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    decision = api.release(world.settings(forge_api_url=closed_port), today=TODAY)
    assert decision.action == "blocked"
    assert decision.report is not None
    assert decision.report.action == "failed"
    assert "GitHub unreachable" in decision.report.message


def test_without_a_token_the_report_is_skipped_and_says_so(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_TOKEN")
    _pin_missing_digest(world, PROD, "e")
    since = world.github.last_seq()
    assert main(["release"]) == 1
    assert (
        "GITHUB_TOKEN is not set: the blocked release was not reported on GitHub"
        in capsys.readouterr().out
    )
    assert world.github.requests(since) == []


def test_secrets_never_reach_the_issue(world: GitOpsWorld):
    settings = world.settings(registry_password="s3cret-registry-password")
    leaky = ReleaseDecision(
        ReleaseAction.BLOCKED,
        f"main failed with {world.github.token}",
        problems=(ReleaseProblem(PROD, "registry said: bad password s3cret-registry-password"),),
        main_sha="a" * 40,
    )
    report = nightly.report_release(settings, leaky)
    assert report.action == "created"
    [issue] = _blocked_issues(world)
    assert world.github.token not in issue.body
    assert "s3cret-registry-password" not in issue.body
    assert "bad password \\*\\*\\*" in issue.body  # the redaction, as inert Markdown


@pytest.mark.parametrize(
    ("setting", "value", "expected", "code"),
    [
        (
            "AZURE_STORAGE_CONNECTION_STRING",
            "DefaultEndpointsProtocol=http;AccountKey-s3cr3t-garbage",
            "AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string",
            2,  # a configuration error
        ),
        (
            "BOT_LOCK_CONTAINER",
            "Bad_Container!",
            "container 'Bad_Container!' (BOT_LOCK_CONTAINER)",
            1,  # the storage refused it
        ),
        ("AZURE_STORAGE_CONNECTION_STRING", "unreachable", "cannot reach the lock store", 1),
    ],
)
def test_bad_lock_storage_settings_exit_1_or_2_naming_the_setting(
    world: GitOpsWorld,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    expected: str,
    code: int,
):
    for key, env_value in world.environ().items():
        monkeypatch.setenv(key, env_value)
    if value == "unreachable":  # Azurite's well-known dev key, at a port nobody listens on
        value = re.sub(
            r"BlobEndpoint=[^;]+",
            f"BlobEndpoint=http://{LOOPBACK}:{free_port()}/devstoreaccount1",
            world.environ()[setting],
        )
    monkeypatch.setenv(setting, value)
    assert main(["release"]) == code
    err = capsys.readouterr().err
    assert expected in err
    if setting == "AZURE_STORAGE_CONNECTION_STRING":
        assert value not in err
    assert world.github.token not in err


def test_the_issue_names_files_relative_to_the_repository_not_the_runner_checkout(
    world: GitOpsWorld,
):
    _edit_main(world, STAGING, "  - namespace.yaml\n", "  - missing.yaml\n", "break staging")
    decision = api.release(world.settings(), today=TODAY)
    assert decision.action == "blocked"
    [issue] = _blocked_issues(world)
    workdir = str(world.settings().workdir)
    assert workdir not in issue.body
    assert "/tmp/" not in issue.body and str(world.root) not in issue.body
    assert "`deploy/overlays/staging`" in issue.body or "deploy/overlays/staging/" in issue.body
    assert all(not p.where.startswith("/") for p in decision.problems)
    assert all(workdir not in p.message for p in decision.problems)


def test_a_leftover_release_branch_exits_1_naming_the_fix_without_a_traceback(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    git(world.seed, "push", "-q", "origin", "main:release")  # as before per-environment release
    assert main(["release"]) == 1
    out = capsys.readouterr()
    assert "origin has the old branch `release`" in out.out
    assert "git push origin :release" in out.out
    assert "Migrating from the single `release` branch" in out.out
    assert "release blocked: 1 problem(s)" in out.err
    assert "Traceback" not in out.out + out.err and "cannot lock ref" not in out.out + out.err
    assert git(world.remote, "branch", "--list", "release/*") == ""
    [issue] = _blocked_issues(world)  # the nightly's reader sees the fix on the forge too
    assert "\\`git push origin :release\\`" in issue.body  # the forge shows the backticks
