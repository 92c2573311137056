"""Faults during a run: the remote moves under the bot, GitHub refuses a merge.

The faults are real: another writer really pushes to the branch between the bot's read and its
push (through a wrapper around the bot's own push step), and the local GitHub really moves the
PR head during the merge (its `head_moved` fault).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobLeaseClient
from github import Auth, Github

from bot import api, runner
from bot.adapters.git import GitRepo
from bot.forge import ForgeError
from bot.lock import LOCK_BLOB
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


def test_push_rejected_because_the_branch_moved_is_retried_from_a_fresh_read(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    api.run(world.settings(), now=NOW)  # PR open at model v2
    world.register_model(0.97)  # the next run must rebuild the branch
    rival = GitRepo.clone(str(world.remote), tmp_path / "rival")
    original = runner.push_promotion
    calls: list[str] = []
    rival_sha: list[str] = []

    def push_after_a_rival(repo, base, proposal, **kwargs):
        if not calls:  # the first attempt: another bot run pushes first
            rival.fetch()
            rival.checkout_fresh("promote/dev", "main")
            (rival.path / "deploy/overlays/dev/kustomization.yaml").write_text(proposal.new_text)
            sha = rival.commit(
                [rival.path / "deploy/overlays/dev/kustomization.yaml"], "rival bot run"
            )
            rival.push_with_lease(sha, "promote/dev", rival.remote_sha("promote/dev"))
            rival_sha.append(sha)
        calls.append(proposal.promotion.env)
        return original(repo, base, proposal, **kwargs)

    monkeypatch.setattr(runner, "push_promotion", push_after_a_rival)
    report = api.run(world.settings(), now=NOW)
    # our push was rejected (lease broken); the fresh read found the rival's identical branch,
    # so the retry only brought the PR text up to date instead of pushing again
    assert calls == ["dev"]
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "update"
    assert git(world.remote, "rev-parse", "promote/dev").strip() == rival_sha[0]
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == "3"
    forge = api.connect(world.settings()).forge
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]


def test_a_merge_refused_because_someone_moved_the_head_is_not_forced(world: GitOpsWorld):
    api.run(world.settings(), now=NOW)  # dev's PR (shipped policy: automerge)
    world.ci_reports("dev")
    main_before = git(world.remote, "rev-parse", "main").strip()
    # between the bot's read and its merge call, someone pushes to promote/dev
    world.github.inject("head_moved", method="PUT", path="/merge$", times=1)
    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    # 409 -> fresh read -> the branch has a commit by someone else: comment, do not overwrite
    assert dev.action == "comment-human"
    assert git(world.remote, "rev-parse", "main").strip() == main_before
    head_author = git(world.remote, "log", "-1", "--format=%ae", "promote/dev").strip()
    assert head_author != "promotion-bot@users.noreply.invalid"
    forge = api.connect(world.settings()).forge
    assert dev.pr_number is not None
    assert "will not overwrite" in forge.comments(dev.pr_number)[-1].body


def test_an_automerge_that_failed_is_retried_by_the_next_run(world: GitOpsWorld):
    api.run(world.settings(), now=NOW)  # dev's PR (shipped policy: automerge)
    world.ci_reports("dev")
    world.github.inject("status", status=502, method="PUT", path="/merge$", times=50)
    first = api.run(world.settings(), now=NOW)
    dev = next(o for o in first.outcomes if o.env == "dev")
    assert dev.action == "noop"  # nothing was written
    assert "automerge refused" in dev.reason
    assert "502" in dev.reason
    world.github.clear_faults()
    assert literal(world.overlay_on("main", "dev"), "MODEL_VERSION") == "1"

    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.label == "merged"
    assert literal(world.overlay_on("main", "dev"), "MODEL_VERSION") == "2"


def test_a_refused_automerge_is_reported_and_the_other_envs_still_run(world: GitOpsWorld):
    now = world.open_clock()  # staging is not frozen, whatever day this runs
    world.merge_dev(now)  # dev at model v2; staging soaks
    confirmed = world.ship("dev", now)
    world.register_model(0.97)  # a new dev candidate
    api.run(world.settings(), now=now + timedelta(minutes=1))  # its PR
    world.ci_reports("dev")
    world.github.inject("status", method="PUT", path="/merge$", status=405, times=10)
    report = api.run(world.settings(), now=world.at(confirmed + timedelta(hours=2)))
    outcomes = {o.env: o for o in report.outcomes}
    assert outcomes["dev"].action == "noop"
    assert "automerge refused" in outcomes["dev"].reason
    assert "405" in outcomes["dev"].reason
    assert outcomes["staging"].action == "push+create"  # processed despite dev's refusal
    forge = api.connect(world.settings()).forge
    assert sorted(forge.open_prs("main", "promote/")) == ["promote/dev", "promote/staging"]
    assert literal(world.overlay_on("main", "dev"), "MODEL_VERSION") == "2"


def _outcome(report: runner.RunReport, env: str) -> runner.EnvOutcome:
    return next(o for o in report.outcomes if o.env == env)


def test_labels_lost_to_a_5xx_are_added_by_the_next_run(world: GitOpsWorld):
    # the 5xx stops the run right after POST /pulls: the state a run killed there leaves too
    world.github.inject("status", status=502, method="POST", path=r"/labels$", times=1)
    with pytest.raises(ForgeError, match="502"):
        api.run(world.settings(), now=NOW)
    forge = api.connect(world.settings()).forge
    pr = forge.open_prs("main", "promote/")["promote/dev"]
    assert pr.labels == ()

    repaired = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert repaired.action == "repair", repaired.reason
    assert "adding label promotion, label env/dev" in repaired.reason
    assert forge.get_pr(pr.number).labels == ("env/dev", "promotion")

    since = world.github.last_seq()
    again = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert again.action == "noop"
    assert world.github.writes(since) == []


def test_review_requests_lost_to_a_5xx_are_made_once_and_never_after_a_review(
    world: GitOpsWorld,
):
    """staging asks the shipped policy's team (`modelops/ml-reviewers`): as a team, in one
    request; lost to a 5xx, the next run asks again; once the team reviewed, nobody is asked."""
    now = world.open_clock()  # staging is not frozen, whatever day this runs
    world.merge_dev(now)  # dev at model v2; staging soaks
    later = world.at(world.ship("dev", now) + timedelta(hours=2))
    start = world.github.last_seq()
    world.github.inject("status", status=503, method="POST", path=r"/requested_reviewers$")
    with pytest.raises(ForgeError, match="503"):
        api.run(world.settings(), now=later)
    forge = api.connect(world.settings()).forge
    pr = forge.open_prs("main", "promote/")["promote/staging"]
    assert (pr.labels, pr.requested) == (("env/staging", "promotion"), ())

    repaired = _outcome(api.run(world.settings(), now=later), "staging")
    assert repaired.action == "repair", repaired.reason
    assert [str(r) for r in forge.get_pr(pr.number).requested] == ["modelops/ml-reviewers"]
    requests = [
        e["request_body"]
        for e in world.github.requests(start, bodies=True)
        if e["method"] == "POST"
        and e["path"].endswith(f"{world.repo_name}/pulls/{pr.number}/requested_reviewers")
        and e["status"] == 201
    ]  # fmt: skip
    assert requests == [{"team_reviewers": ["ml-reviewers"]}]

    # reviewer-1 (of ml-reviewers) comments: the team's request is answered and gone
    token = "lw-reviewer-1"
    world.github.add_token(token, [world.repo_name], login="reviewer-1")
    reviewer = Github(base_url=world.github.url, auth=Auth.Token(token), retry=None)
    reviewer.get_repo(world.repo_name).get_pull(pr.number).create_review(
        body="looks fine", event="COMMENT"
    )
    assert forge.get_pr(pr.number).requested == ()
    since = world.github.last_seq()
    after = _outcome(api.run(world.settings(), now=later), "staging")
    assert after.action == "noop", after.reason
    assert world.github.writes(since) == []


def test_a_run_killed_during_post_pulls_leaves_a_pr_the_next_run_labels(world: GitOpsWorld):
    """SIGKILL while GitHub is still answering POST /pulls: the PR is created after the bot
    died, with no labels. The next run finds it and adds them (and never opens a second)."""
    world.github.inject("slow", delay=4, method="POST", path=r"/pulls$", times=1)
    env = {**os.environ, **world.environ()}
    bot = subprocess.Popen(  # the CLI, as the pipeline runs it
        [sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while world.github.faults() and time.monotonic() < deadline:  # POST /pulls in flight
            assert bot.poll() is None, "the run ended before POST /pulls"
            time.sleep(0.1)
        assert not world.github.faults()
        bot.send_signal(signal.SIGKILL)
    finally:
        bot.kill()
        bot.wait()
    forge = api.connect(world.settings()).forge
    deadline = time.monotonic() + 30
    while "promote/dev" not in forge.open_prs("main", "promote/"):  # GitHub finishes the create
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert forge.open_prs("main", "promote/")["promote/dev"].labels == ()
    # the dead run's lease would expire in 30 s; an operator (or the next run) breaks it sooner
    BlobLeaseClient(world.lock_client().get_blob_client(LOCK_BLOB)).break_lease(0)

    repaired = _outcome(api.run(world.settings(), now=NOW), "dev")
    assert repaired.action == "repair", repaired.reason
    pr = forge.open_prs("main", "promote/")["promote/dev"]
    assert pr.labels == ("env/dev", "promotion")
    assert forge.closed_prs("promote/dev", "main") == []  # the one PR, never a second
