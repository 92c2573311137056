"""The bot's PR lifecycle, release and zero-write guarantees, on BOTH forges.

Each scenario runs once on the local GitHub (held to GitHub's OpenAPI description) and once on
the local Azure Repos (held to Microsoft's 7.1 specifications), through `promotion-bot`'s
Python API with the shipped promotion.yaml, real git, registry and model store. Scenarios are
stories (one seeded world each, several runs) to keep the doubled suite cheap; the GitHub-only
details stay in test_runner.py and test_release_report.py. The dashboard story runs on Azure
Repos only (tests/bot/report/test_dashboard.py has it on GitHub).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from github import Auth, Github

from bot import api, dashboard, runner
from bot.core.confirm import zulu
from bot.forge import CommitStatus, Forge, StatusState
from bot.holding import HOLD_BRANCH_PREFIX
from bot.release import ISSUE_LABEL, ISSUE_MARKER
from bot.release_status import ATTEMPTS
from localworld.azure_repos import LocalAzureRepos
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld, literal
from tests.conftest import git

NOW = datetime.now(UTC)
TODAY = date(2026, 11, 25)
# What creating a pull request is called in each forge's request log, and its path.
PR_CREATE = {"github": ("POST", r"/pulls$"), "azure-repos": ("POST", r"/pullrequests$")}
# ... and creating a commit status (the listings are GETs of other paths)
STATUS_CREATE = {
    "github": r"/statuses/[0-9a-f]{40}$",
    "azure-repos": r"/commits/[0-9a-f]{40}/statuses$",
}


@pytest.fixture(params=["github", "azure-repos"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    registry: Registry,
    azurite: Azurite,
    github: LocalGitHub,
    azure_repos: LocalAzureRepos,
) -> GitOpsWorld:
    """Both services are named here, so the conftest's contract checks (GitHub's OpenAPI
    description, Microsoft's specifications) judge every exchange of every story."""
    service: Any = github if request.param == "github" else azure_repos
    return GitOpsWorld.for_forge(str(request.param), tmp_path, service, registry, azurite)


def _seeded(world: GitOpsWorld) -> str:
    """v1 + image 1 everywhere; then a developer commit, image 2 and model v2 (better)."""
    tag1 = world.push_image(world.init_repo())
    world.register_model(0.95)
    world.seed_repo(tag=tag1, model_version=1)
    tag2 = world.push_image(world.app_commit("app: faster predict"))
    world.register_model(0.96)
    return tag2


def _forge(world: GitOpsWorld) -> Forge:
    return api.connect(world.settings()).forge


def _pr_creates(world: GitOpsWorld, since: int) -> int:
    method, path = PR_CREATE[world.forge]
    return sum(
        1
        for w in world.github.writes(since)
        if w["method"] == method and re.search(path, w["path"])
    )


def _outcome(report: runner.RunReport, env: str) -> Any:
    return next(o for o in report.outcomes if o.env == env)


def _reject(world: GitOpsWorld, number: int) -> None:
    """A reviewer closes the PR without merging (GitHub: closed; Azure Repos: abandoned)."""
    if world.forge == "github":
        gh = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
        gh.get_repo(world.repo_name).get_pull(number).edit(state="closed")
        return
    project, _, repo = world.repo_name.partition("/")
    url = f"{world.github.url}/{project}/_apis/git/repositories/{repo}/pullrequests/{number}"
    resp = requests.patch(
        url,
        params={"api-version": "7.1"},
        json={"status": "abandoned"},
        headers={"Authorization": f"Bearer {world.github.token}"},
        timeout=10,
    )
    resp.raise_for_status()


def test_a_pr_is_opened_left_alone_updated_in_place_respected_and_closed(world: GitOpsWorld):
    tag2 = _seeded(world)
    since = world.github.last_seq()
    report = api.run(world.settings(), now=NOW)
    dev = _outcome(report, "dev")
    assert dev.action == "push+create"
    assert _outcome(report, "staging").action == "none"
    assert _pr_creates(world, since) == 1
    forge = _forge(world)
    pr = forge.find_open_pr("promote/dev", "main")
    assert pr is not None and pr.number == dev.pr_number
    assert pr.labels == ("env/dev", "promotion")
    assert f"**`{tag2}`**" in pr.body
    assert "| accuracy | 0.95 | 0.96 | +0.01 |" in pr.body
    assert "app: faster predict" in pr.body  # the commit range, read through the forge
    assert world.github.token not in pr.body

    # nothing new: zero forge writes, nothing pushed
    since, refs = world.github.last_seq(), git(world.remote, "for-each-ref")
    assert not api.run(world.settings(), now=NOW).wrote
    assert world.github.writes(since) == []
    assert git(world.remote, "for-each-ref") == refs

    # a newer model: the same PR, updated in place
    world.register_model(0.97)
    updated = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert (updated.action, updated.pr_number) == ("push+update", pr.number)
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == "3"

    # a person commits on the branch: said once, never overwritten
    human = world.root / "human"
    git(world.root, "clone", "-q", "-b", "promote/dev", str(world.remote), str(human))
    (human / "NOTE.md").write_text("reviewer fix\n")
    git(human, "add", "NOTE.md")
    git(human, "-c", "user.email=alice@example.invalid", "commit", "-q", "-m", "human fix")
    git(human, "push", "-q", "origin", "promote/dev")
    world.register_model(0.98)
    assert _outcome(api.run(world.settings(), now=NOW), "dev").action == "comment-human"
    since = world.github.last_seq()
    assert _outcome(api.run(world.settings(), now=NOW), "dev").action == "noop"
    assert world.github.writes(since) == []
    assert len(forge.comments(pr.number)) == 1

    # the target reached by hand on main: closed, saying why
    world.pull()
    world.pin("dev", tag2, 4)
    git(world.seed, "commit", "-q", "-am", "pin dev by hand")
    git(world.seed, "push", "-q", "origin", "main")
    assert _outcome(api.run(world.settings(), now=NOW), "dev").action == "close"
    closed = forge.get_pr(pr.number)
    assert (closed.state, closed.merged) == ("closed", False)
    assert "no longer needed" in forge.comments(pr.number)[-1].body


def test_automerge_soak_reviewers_and_a_transient_failure(world: GitOpsWorld):
    tag2 = _seeded(world)
    now = world.open_clock()  # staging is not frozen, whatever day this runs
    dev = _outcome(api.run(world.settings(), now=now), "dev")
    assert dev.label == "push+create", dev.reason  # not merged in the run that pushed it
    world.ci_reports("dev")  # CI passes on the PR head: the next run merges it
    assert _outcome(api.run(world.settings(), now=now), "dev").label == "merged"
    assert f"newTag: {tag2}" in world.overlay_on("main", "dev")
    forge = _forge(world)
    assert dev.pr_number is not None and forge.get_pr(dev.pr_number).merged

    staging = _outcome(api.run(world.settings(), now=now + timedelta(minutes=5)), "staging")
    assert (staging.action, "soak" in staging.reason) == ("hold", True)
    # dev ships; its cluster confirms through the forge (Flux's context; on Azure Repos the
    # adapter carries it as genre/name), and the soak counts from that status
    night = api.release(world.settings(), today=now.date(), now=now)
    assert night.envs[0].action == "release", night.reason
    release_dev = git(world.remote, "rev-parse", "refs/heads/release/dev").strip()
    flux = CommitStatus(
        "kustomization/modelops-dev/aks-modelops", StatusState.SUCCESS, "reconciliation succeeded"
    )
    forge.create_status(release_dev, flux)
    confirmed = max(s.created_at for s in forge.list_statuses(release_dev) if s.created_at)

    method, path = PR_CREATE[world.forge]
    world.github.inject("status", status=502, method=method, path=path, times=1)
    since = world.github.last_seq()
    later = world.at(confirmed + timedelta(hours=2))
    staging = _outcome(api.run(world.settings(), now=later), "staging")
    assert staging.action == "push+create"
    assert _pr_creates(world, since) == 2  # the 502, then one create after looking first
    open_prs = forge.open_prs("main", "promote/")
    assert list(open_prs) == ["promote/staging"]
    assert [str(r) for r in open_prs["promote/staging"].requested] == ["modelops/ml-reviewers"]
    assert f"newTag: {tag2}" in world.overlay_on("promote/staging", "staging")


def test_a_runner_clock_ahead_of_the_forge_does_not_shorten_the_soak(world: GitOpsWorld):
    """Issue 14, "operator clock skew": the bot's runner three hours ahead of the forge sees
    dev's confirmation as hours old, yet neither `plan` nor the nightly moves staging before
    the forge's own clock (its `Date`) says the soak elapsed."""
    _seeded(world)
    now, ahead, soak = world.open_clock(), timedelta(hours=3), timedelta(hours=1)
    world.merge_dev(now)
    assert api.release(world.settings(), today=now.date(), now=now).envs[0].action == "release"
    release_dev = git(world.remote, "rev-parse", "refs/heads/release/dev").strip()
    forge = _forge(world)
    flux = CommitStatus("kustomization/modelops-dev/aks-modelops", StatusState.SUCCESS, "ok")
    forge.create_status(release_dev, flux)
    confirmed = max(s.created_at for s in forge.list_statuses(release_dev) if s.created_at)

    skewed = confirmed + ahead  # the runner's clock; the forge's is still at `confirmed`
    staging = _outcome(api.run(world.settings(), now=skewed), "staging")
    assert staging.action == "hold", staging.reason
    assert f"eligible at {zulu(confirmed + soak)}" in staging.reason
    assert "(on the forge's clock: the bot's is 3h off)" in staging.reason
    night = api.release(world.settings(), today=skewed.date(), now=skewed)
    assert [d.action.value for d in night.envs][:2] == ["noop", "wait"], night.envs
    assert f"eligible at {zulu(confirmed + soak)}" in night.envs[1].reason

    # the forge's soak elapsed (a second more: `Date` is whole seconds, Azure's times are not)
    world.at(confirmed + soak + timedelta(seconds=1))  # and the runner's skew changes nothing
    staging = _outcome(api.run(world.settings(), now=skewed + soak), "staging")
    assert staging.action == "push+create", staging.reason


def test_a_rejected_pr_is_not_reopened_and_a_blocked_release_is_one_record(world: GitOpsWorld):
    _seeded(world)
    number = _outcome(api.run(world.settings(), now=NOW), "dev").pr_number
    assert number is not None
    _reject(world, number)
    since = world.github.last_seq()
    dev = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert dev.action == "hold"
    assert f"rejected in #{number}" in dev.reason
    assert world.github.writes(since) == []
    world.register_model(0.97)
    newer = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert newer.action == "push+create" and newer.pr_number not in (None, number)

    # main pins a digest the registry never had: blocked, reported once, closed when fixed
    world.pull()
    overlay = world.seed / "deploy/overlays/prod/kustomization.yaml"
    good = next(iter(world.digests.values()))
    overlay.write_text(overlay.read_text().replace(good, "sha256:" + "e" * 64))
    git(world.seed, "commit", "-q", "-am", "pin a digest that was never pushed")
    git(world.seed, "push", "-q", "origin", "main")
    blocked = api.release(world.settings(), today=TODAY)
    assert blocked.action == "blocked"
    assert blocked.report is not None and blocked.report.action == "created"
    forge = _forge(world)
    record = forge.find_open_issue(label=ISSUE_LABEL, marker=ISSUE_MARKER)
    assert record is not None and "e" * 64 in record.body
    since = world.github.last_seq()
    again = api.release(world.settings(), today=TODAY)
    assert again.report is not None and again.report.action == "unchanged"
    assert world.github.writes(since) == []

    world.pull()
    overlay.write_text(overlay.read_text().replace("sha256:" + "e" * 64, good))
    git(world.seed, "commit", "-q", "-am", "fix the prod digest")
    git(world.seed, "push", "-q", "origin", "main")
    fixed = api.release(world.settings(), today=TODAY)
    assert fixed.action == "release", fixed.problems
    assert fixed.report is not None and fixed.report.action == "closed"
    assert forge.find_open_issue(label=ISSUE_LABEL, marker=ISSUE_MARKER) is None
    since = world.github.last_seq()
    assert api.release(world.settings(), today=TODAY).action == "noop"
    assert world.github.writes(since) == []


def _status_posts(world: GitOpsWorld, since: int) -> list[int | str]:
    """The answers to status creations since `since`: "ok", or the error's HTTP status."""
    path = STATUS_CREATE[world.forge]
    return [
        "ok" if r["status"] < 300 else r["status"]
        for r in world.github.requests(since)
        if r["method"] == "POST" and re.search(path, r["path"])
    ]


def test_a_release_status_the_forge_lost_is_posted_again_once(world: GitOpsWorld):
    """`promotion/release/<env>` (what `confirm: release` soaks from) survives forge 5xx: the
    same run looks and posts again; when every try fails, the next run posts it, late (its
    description says so), and a run after that writes nothing."""
    _seeded(world)
    now, context, forge = world.open_clock(), "promotion/release/dev", _forge(world)
    path = STATUS_CREATE[world.forge]
    world.github.inject("status", status=502, method="POST", path=path, times=1)
    since = world.github.last_seq()
    night = api.release(world.settings(), today=now.date(), now=now)
    assert night.envs[0].action == "release", night.reason
    first = git(world.remote, "rev-parse", "refs/heads/release/dev").strip()
    assert [s.context for s in forge.list_statuses(first)] == [context]
    assert _status_posts(world, since) == [502, "ok"]
    assert [(s.env, s.outcome) for s in night.statuses] == [("dev", "posted")]

    # main moves on; every try of the status post fails: the ref moved, its status is missing
    world.app_commit("app: another change")
    world.github.inject("status", status=503, method="POST", path=path, times=ATTEMPTS)
    failed = api.release(world.settings(), today=now.date(), now=now)
    moved = git(world.remote, "rev-parse", "refs/heads/release/dev").strip()
    assert moved != first and failed.envs[0].action == "release"
    assert [(s.env, s.outcome) for s in failed.statuses] == [("dev", "failed")]
    assert "the next release run posts it" in failed.statuses[0].message
    assert forge.list_statuses(moved) == []

    # the next night: nothing moves, the tip gets its status once, saying it is late
    since = world.github.last_seq()
    repaired = api.release(world.settings(), today=now.date(), now=now)
    assert repaired.envs[0].action == "noop"
    assert [(s.env, s.outcome) for s in repaired.statuses] == [("dev", "posted")]
    assert _status_posts(world, since) == ["ok"]
    [late] = forge.list_statuses(moved)
    assert (late.context, late.state) == (context, StatusState.SUCCESS)
    assert "posted late" in late.description

    since = world.github.last_seq()
    assert api.release(world.settings(), today=now.date(), now=now).statuses == ()
    assert world.github.writes(since) == []


@pytest.mark.parametrize("world", ["azure-repos"], indirect=True)
def test_the_dashboard_is_one_work_item_and_a_ticked_box_is_acted_on(world: GitOpsWorld):
    """Azure Repos only: tests/bot/report/test_dashboard.py is this story on GitHub."""
    _seeded(world)
    settings = world.settings()
    first = dashboard.sync(settings, now=NOW)
    assert first.action == "create" and first.issue is not None
    since = world.github.last_seq()
    assert dashboard.sync(settings, now=NOW).action == "noop"
    assert world.github.writes(since) == []  # the work item's text read back is the text written

    box = "- [ ] <!-- promotion-bot:dashboard hold staging -->"
    assert box in first.body
    reviewer = _forge(world)  # a reviewer ticks the box in the work item's description
    reviewer.update_issue(first.issue.number, first.body.replace(box, box.replace("[ ]", "[x]")))
    acted = dashboard.sync(settings, now=NOW)
    [(ask, outcome)] = acted.acted
    assert ask == dashboard.Ask("hold", "staging")
    assert not isinstance(outcome, str) and outcome.action == "push+create"
    pr = reviewer.find_open_pr(f"{HOLD_BRANCH_PREFIX}staging", "main")
    assert pr is not None and [str(r) for r in pr.requested] == ["modelops/ml-reviewers"]
    record = reviewer.find_open_issue(label=dashboard.LABEL, marker=dashboard.MARKER)
    assert record is not None and box in record.body  # unticked
