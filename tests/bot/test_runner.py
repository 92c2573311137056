"""`promotion-bot run` end to end on the local world: real git, GitHub API, registry, Blob.

Each test seeds its own GitOps repo (this project's deploy tree and policy), pushes images to
the real registry and registers real ONNX models, then runs the bot through its Python API.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from github import Auth, Github

from bot import api, runner
from bot.adapters.git import BOT_EMAIL, BOT_NAME
from bot.cli import main
from bot.core.marker import read_marker
from bot.core.pr_action import PUSHED_WAITS
from bot.errors import BotError, RegistryUnavailableError
from bot.imagespec import parse_image_spec
from bot.kustomize import set_pins
from bot.lock import LockError, LockHeldError, run_lock
from bot.wiring import connect
from bot.world import MAX_SKIPPED_TAGS
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld, literal
from tests.conftest import git
from tests.oci import OCI_INDEX, image_manifest, push_image, put_manifest

NOW = datetime.now(UTC)


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def _seeded(world: GitOpsWorld) -> tuple[str, str]:
    """v1 + image 1 everywhere; then a developer commit, image 2 and model v2 (better)."""
    tag1 = world.push_image(world.init_repo())
    world.register_model(0.95)
    world.seed_repo(tag=tag1, model_version=1)
    rev2 = world.app_commit("app: faster predict")
    tag2 = world.push_image(rev2)
    world.register_model(0.96)
    return tag1, tag2


def test_first_run_opens_one_dev_pr_with_evidence_and_holds_staging(world: GitOpsWorld):
    _, tag2 = _seeded(world)
    since = world.github.last_seq()
    report = api.run(world.settings(), now=NOW)
    outcomes = {o.env: o for o in report.outcomes}
    assert outcomes["dev"].action == "push+create"
    assert outcomes["staging"].action == "none"  # staging already runs what dev runs
    pulls = [r for r in world.github.writes(since) if r["path"].endswith("/pulls")]
    assert len(pulls) == 1

    branch_overlay = world.overlay_on("promote/dev", "dev")
    assert f"newTag: {tag2}" in branch_overlay
    assert world.digests[tag2] in branch_overlay
    assert literal(branch_overlay, "MODEL_VERSION") == "2"
    # only the pins changed: the rest of the file is byte-identical
    main_overlay = world.overlay_on("main", "dev")
    changed = [
        (a, b)
        for a, b in zip(main_overlay.splitlines(), branch_overlay.splitlines(), strict=True)
        if a != b
    ]
    assert len(changed) == 4  # newTag, digest, MODEL_VERSION, MODEL_SHA256

    forge = api.connect(world.settings()).forge
    pr = forge.find_open_pr("promote/dev", "main")
    assert pr is not None
    assert pr.labels == ("env/dev", "promotion")
    assert f"**`{tag2}`**" in pr.body
    assert "| accuracy | 0.95 | 0.96 | +0.01 |" in pr.body
    assert "app: faster predict" in pr.body  # commit range between the image revisions
    assert "✅ **signature**" in pr.body
    assert world.github.token not in pr.body
    assert read_marker(pr.body) is not None


def test_a_run_with_nothing_new_makes_zero_write_calls(world: GitOpsWorld):
    _seeded(world)
    api.run(world.settings(), now=NOW)
    since = world.github.last_seq()
    refs = git(world.remote, "for-each-ref")
    report = api.run(world.settings(), now=NOW)
    assert not report.wrote
    assert world.github.writes(since) == []
    assert git(world.remote, "for-each-ref") == refs


def test_dry_run_prints_the_diff_and_writes_nothing(world: GitOpsWorld):
    _, tag2 = _seeded(world)
    since = world.github.last_seq()
    refs = git(world.remote, "for-each-ref")
    report = api.run(world.settings(), now=NOW, dry_run=True)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "push+create"
    assert f"+    newTag: {tag2}" in dev.diff
    assert "-      - MODEL_VERSION=1" in dev.diff
    assert world.github.writes(since) == []
    assert git(world.remote, "for-each-ref") == refs


def test_new_candidate_updates_the_same_pr_in_place(world: GitOpsWorld):
    _seeded(world)
    first = api.run(world.settings(), now=NOW)
    number = next(o.pr_number for o in first.outcomes if o.env == "dev")
    world.register_model(0.97)
    second = api.run(world.settings(), now=NOW)
    dev = next(o for o in second.outcomes if o.env == "dev")
    assert dev.action == "push+update"
    assert dev.pr_number == number
    forge = api.connect(world.settings()).forge
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == "3"


def test_human_commits_on_the_branch_are_not_overwritten(world: GitOpsWorld, tmp_path: Path):
    _seeded(world)
    api.run(world.settings(), now=NOW)
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "promote/dev", str(world.remote), str(human))
    (human / "NOTE.md").write_text("reviewer fix\n")
    git(human, "add", "NOTE.md")
    git(human, "-c", "user.email=alice@example.invalid", "commit", "-q", "-m", "human fix")
    git(human, "push", "-q", "origin", "promote/dev")
    human_sha = git(human, "rev-parse", "HEAD").strip()

    world.register_model(0.97)
    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "comment-human"
    assert git(world.remote, "rev-parse", "promote/dev").strip() == human_sha
    since = world.github.last_seq()
    again = api.run(world.settings(), now=NOW)
    assert next(o for o in again.outcomes if o.env == "dev").action == "noop"
    assert world.github.writes(since) == []  # said once, not on every run


def test_a_pr_whose_target_was_reached_by_hand_is_closed_with_a_comment(world: GitOpsWorld):
    _, tag2 = _seeded(world)
    first = api.run(world.settings(), now=NOW)
    number = next(o.pr_number for o in first.outcomes if o.env == "dev")
    assert number is not None
    world.pull()
    world.pin("dev", tag2, 2)
    git(world.seed, "commit", "-q", "-am", "pin dev by hand")
    git(world.seed, "push", "-q", "origin", "main")

    report = api.run(world.settings(), now=NOW)
    assert next(o for o in report.outcomes if o.env == "dev").action == "close"
    forge = api.connect(world.settings()).forge
    assert forge.get_pr(number).state == "closed"
    assert "no longer needed" in forge.comments(number)[-1].body


def test_a_pr_a_reviewer_closed_is_not_reopened_until_a_newer_candidate(world: GitOpsWorld):
    _seeded(world)
    first = api.run(world.settings(), now=NOW)
    number = next(o.pr_number for o in first.outcomes if o.env == "dev")
    assert number is not None
    forge = api.connect(world.settings()).forge
    reviewer = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
    reviewer.get_repo(world.repo_name).get_pull(number).edit(state="closed")  # the reviewer says no

    since = world.github.last_seq()
    again = api.run(world.settings(), now=NOW)
    dev = next(o for o in again.outcomes if o.env == "dev")
    assert dev.action == "hold"
    assert dev.reason == f"rejected in #{number} (reopen it or register a newer candidate)"
    assert world.github.writes(since) == []
    assert forge.open_prs("main", "promote/") == {}

    world.register_model(0.97)  # a newer candidate is proposed as usual
    newer = api.run(world.settings(), now=NOW)
    dev = next(o for o in newer.outcomes if o.env == "dev")
    assert dev.action == "push+create"
    assert dev.pr_number not in (None, number)
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == "3"


def test_automerge_never_merges_a_head_without_checks_then_staging_waits_for_dev_to_confirm_it(
    world: GitOpsWorld,
):
    """The shipped policy (dev automerges, no `required_checks`): the head pushed in a run is
    not merged in it, and a head with no check reported waits; a green one merges."""
    _, tag2 = _seeded(world)
    now = world.open_clock()  # staging and prod are not frozen, whatever day this runs
    report = api.run(world.settings(), now=now)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.label == "push+create", dev.reason
    assert dev.reason.endswith(PUSHED_WAITS)
    since = world.github.last_seq()
    waits = next(o for o in api.run(world.settings(), now=now).outcomes if o.env == "dev")
    assert (waits.label, waits.reason) == ("noop", "automerge waits: no checks reported yet")
    assert world.github.writes(since) == []
    assert f"newTag: {tag2}" not in world.overlay_on("main", "dev")

    world.ci_reports("dev")
    merged = next(o for o in api.run(world.settings(), now=now).outcomes if o.env == "dev")
    assert merged.label == "merged", merged.reason
    assert f"newTag: {tag2}" in world.overlay_on("main", "dev")

    # issue 14: merged on main but not released to dev is no soak, however long ago
    for later in (now + timedelta(minutes=5), now + timedelta(hours=2)):
        staging = next(
            o for o in api.run(world.settings(), now=later).outcomes if o.env == "staging"
        )
        assert staging.action == "hold"
        assert "release/dev does not contain these pins yet" in staging.reason

    # the nightly ships dev only: staging waits for dev's cluster (not in the same release)
    night = api.release(world.settings(), today=now.date(), now=now + timedelta(hours=2))
    assert [(d.env, d.action) for d in night.envs] == [
        ("dev", "release"),
        ("staging", "wait"),
        ("prod", "wait"),
    ]
    assert "soak in dev: release/dev does not contain these pins" in night.envs[1].reason
    # released, but no status from the cluster yet: still held (a missing status never counts)
    staging = next(o for o in api.run(world.settings(), now=now).outcomes if o.env == "staging")
    assert "dev has not confirmed running these pins (no deployment status)" in staging.reason

    commit = world.flux_reports("dev")  # dev's Flux applied release/dev and it is healthy
    confirmed = world.status_time(commit)
    held = api.run(world.settings(), now=confirmed + timedelta(minutes=5))
    staging = next(o for o in held.outcomes if o.env == "staging")
    assert staging.action == "hold"
    assert f"kustomization/modelops-dev/aks-modelops success on {commit[:12]}" in staging.reason
    assert "eligible at" in staging.reason

    after_soak = api.run(world.settings(), now=world.at(confirmed + timedelta(hours=2)))
    staging = next(o for o in after_soak.outcomes if o.env == "staging")
    assert staging.action == "push+create"
    assert f"newTag: {tag2}" in world.overlay_on("promote/staging", "staging")
    body = api.connect(world.settings()).forge.find_open_pr("promote/staging", "main")
    assert body is not None
    assert f"success on {commit[:12]}" in body.body  # the gate cites the confirmation


def test_a_failure_after_success_resets_dev_soak(world: GitOpsWorld):
    _seeded(world)
    now = world.open_clock()
    world.merge_dev(now)
    api.release(world.settings(), today=now.date(), now=now)
    world.flux_reports("dev")
    commit = world.flux_reports("dev", "failure")
    later = world.status_time(commit) + timedelta(hours=3)
    staging = next(o for o in api.run(world.settings(), now=later).outcomes if o.env == "staging")
    assert staging.action == "hold"
    assert f"failure on {commit[:12]}" in staging.reason and "no success since" in staging.reason


def test_a_backdated_dev_commit_does_not_skip_the_soak(world: GitOpsWorld):
    _, tag2 = _seeded(world)
    world.pull()
    world.pin("dev", tag2, 2)
    three_days_ago = (NOW - timedelta(days=3)).isoformat()
    dates = {"GIT_COMMITTER_DATE": three_days_ago, "GIT_AUTHOR_DATE": three_days_ago}
    subprocess.run(
        ["git", "commit", "-q", "-am", "dev: new pins, committed three days ago"],
        cwd=world.seed,
        env={**os.environ, **dates},
        check=True,
    )
    git(world.seed, "push", "-q", "origin", "main")
    result = api.make_plan(api.connect(world.settings()), world.open_clock())[1]
    staging = result.env("staging")
    assert staging.promotion is None and staging.held is not None
    assert "release/dev does not contain these pins yet" in " ".join(staging.reasons)


def test_a_transient_github_failure_is_retried_without_duplicates(world: GitOpsWorld):
    _seeded(world)
    world.github.inject("status", status=502, method="POST", path="/pulls$", times=1)
    api.run(world.settings(), now=NOW)
    forge = api.connect(world.settings()).forge
    assert list(forge.open_prs("main", "promote/")) == ["promote/dev"]


def test_a_concurrent_run_is_refused_by_the_lock(world: GitOpsWorld):
    _seeded(world)
    since = world.github.last_seq()
    with run_lock(world.lock_client()), pytest.raises(LockHeldError):
        api.run(world.settings(), now=NOW)
    assert world.github.writes(since) == []


def test_release_validates_fast_forwards_tags_and_is_idempotent(world: GitOpsWorld):
    _seeded(world)
    api.run(world.settings(), now=NOW)
    decision = api.release(world.settings(), today=date(2026, 11, 25))
    assert decision.action == "release", decision.problems
    main_sha = git(world.remote, "rev-parse", "main").strip()
    assert git(world.remote, "rev-parse", "release/dev").strip() == main_sha
    assert git(world.remote, "rev-parse", "release-dev-20261125^{commit}").strip() == main_sha
    # what the nightly recorded: the forge's time of the move (what `confirm: release` reads)
    statuses = api.connect(world.settings()).forge.list_statuses(main_sha)
    assert [s.context for s in statuses] == ["promotion/release/dev"]
    since = world.github.last_seq()
    assert api.release(world.settings(), today=date(2026, 11, 25)).action == "noop"
    assert world.github.writes(since) == []


def test_release_refuses_a_digest_missing_from_the_registry(world: GitOpsWorld):
    _seeded(world)
    world.pull()
    overlay = world.seed / "deploy/overlays/prod/kustomization.yaml"
    text = overlay.read_text()
    good = next(line for line in text.splitlines() if "digest: sha256:" in line)
    overlay.write_text(text.replace(good, good.split("sha256:")[0] + "sha256:" + "e" * 64))
    git(world.seed, "commit", "-q", "-am", "pin a digest that was never pushed")
    git(world.seed, "push", "-q", "origin", "main")
    decision = api.release(world.settings(), today=date(2026, 11, 25))
    assert decision.action == "blocked"
    assert any("prod" in p.where and "eeeeeeee" in p.message for p in decision.problems)
    assert git(world.remote, "branch", "--list", "release/*") == ""


def test_a_missing_overlay_is_a_clear_error_naming_the_file_and_env(world: GitOpsWorld):
    _seeded(world)
    world.pull()
    git(world.seed, "rm", "-q", "deploy/overlays/prod/kustomization.yaml")
    git(world.seed, "commit", "-q", "-m", "lose the prod overlay")
    git(world.seed, "push", "-q", "origin", "main")
    since = world.github.last_seq()
    with pytest.raises(
        BotError, match=r"deploy/overlays/prod/kustomization.yaml: not found .*prod"
    ):
        api.run(world.settings(), now=NOW)
    assert world.github.writes(since) == []


class _FlakyRegistry(ThreadingHTTPServer):
    """A real HTTP proxy in front of the real registry that answers 503 for one digest."""

    upstream: str
    failing: str = ""


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _FlakyRegistry

    def _forward(self) -> None:
        if self.server.failing and self.server.failing in self.path:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        resp = requests.request(
            self.command, self.server.upstream + self.path, headers=headers, timeout=10
        )
        body = resp.content if self.command != "HEAD" else b""
        self.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def flaky_registry(registry: Registry) -> Iterator[_FlakyRegistry]:
    server = _FlakyRegistry(("127.0.0.1", 0), _ProxyHandler)
    server.upstream = registry.url.rstrip("/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_registry_outage_on_a_pinned_digest_ends_the_run_and_keeps_open_prs(
    world: GitOpsWorld, flaky_registry: _FlakyRegistry
):
    """Only a digest that is really gone (404) counts as unknown; a 503 must not close PRs."""
    _, tag2 = _seeded(world)
    now = world.open_clock()
    world.merge_dev(now)  # dev merged to tag2
    soaked = world.at(world.ship("dev", now) + timedelta(hours=2))
    api.run(world.settings(), now=soaked)  # staging PR for tag2
    forge = api.connect(world.settings()).forge
    staging_pr = forge.find_open_pr("promote/staging", "main")
    assert staging_pr is not None
    world.push_image(world.app_commit("app: v3"))
    flaky_registry.failing = world.digests[tag2]  # pinned by dev, proposed for staging
    host = f"127.0.0.1:{flaky_registry.server_address[1]}"
    since = world.github.last_seq()
    refs = git(world.remote, "for-each-ref")
    with pytest.raises(RegistryUnavailableError, match="503"):
        api.run(world.settings(registry_host=host), now=soaked + timedelta(minutes=5))
    assert world.github.writes(since) == []
    assert git(world.remote, "for-each-ref") == refs
    assert forge.get_pr(staging_pr.number).state == "open"


def test_release_checks_each_digest_in_the_repository_its_overlay_names(world: GitOpsWorld):
    _, tag2 = _seeded(world)
    other = f"{world.image_repo}-hotfix"
    hotfix_digest = push_image(world.registry.url, other, "hotfix-1", {})
    world.pull()
    overlay = "deploy/overlays/prod/kustomization.yaml"
    set_pins(
        world.seed / overlay,
        images=[
            parse_image_spec(f"modelops-app={world.registry.host}/{other}:hotfix-1@{hotfix_digest}")
        ],
    )
    git(world.seed, "commit", "-q", "-am", "prod: hotfix image by hand")
    git(world.seed, "push", "-q", "origin", "main")
    assert api.release(world.settings(), today=date(2026, 11, 25)).action == "release"

    world.pull()
    missing = "sha256:" + "d" * 64
    set_pins(
        world.seed / overlay,
        images=[parse_image_spec(f"modelops-app={world.registry.host}/{other}:hotfix-2@{missing}")],
    )
    staging = "deploy/overlays/staging/kustomization.yaml"
    set_pins(
        world.seed / staging,
        images=[
            parse_image_spec(f"modelops-app=elsewhere.example:5000/app:1@{world.digests[tag2]}")
        ],
    )
    git(world.seed, "commit", "-q", "-am", "two bad pins")
    git(world.seed, "push", "-q", "origin", "main")
    decision = api.release(world.settings(), today=date(2026, 11, 25))
    assert decision.action == "blocked"
    by_file = {p.where: p.message for p in decision.problems}
    assert "dddddddd" in by_file[overlay]
    assert "pinned to registry elsewhere.example:5000" in by_file[staging]


@pytest.mark.parametrize(
    ("checks_passed", "branch_pushed", "pr_opened"),
    [(1, False, False), (2, True, False), (3, True, True)],
)
def test_a_lease_lost_mid_environment_stops_before_the_next_write(
    world: GitOpsWorld, checks_passed: int, branch_pushed: bool, pr_opened: bool
):
    # dev's promotion writes twice (push, open the PR; a head pushed in the run is not merged
    # in it); the lease is checked before each, so a lease lost after the environment's first
    # check writes no further
    _seeded(world)
    checks: list[int] = []

    def ensure_held() -> None:
        checks.append(len(checks))
        if len(checks) > checks_passed:
            raise LockError("lost the run lock: starved; stopped before writing")

    since = world.github.last_seq()
    with pytest.raises(LockError, match="lost the run lock"):
        runner.run(
            connect(world.settings()),
            now=NOW,
            dry_run=False,
            validate=lambda _repo, _policy: [],
            ensure_held=ensure_held,
        )
    pushed = git(world.remote, "branch", "--list", "promote/dev").strip() != ""
    assert pushed == branch_pushed
    writes = [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in world.github.writes(since)]
    assert (("POST", "pulls") in writes) == pr_opened
    assert ("PUT", "merge") not in writes
    assert writes == [] or pr_opened


_BOT = ("-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}")


def _amend_overlay(human: Path, identity: tuple[str, ...], extra: str) -> None:
    overlay = human / "deploy" / "overlays" / "dev" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + extra)
    git(human, "add", "-A")
    git(human, *identity, "commit", "-q", "--amend", "--no-edit")


@pytest.mark.parametrize(
    "edit",
    [
        # `git commit --amend` keeps the bot as author; the committer is the human
        lambda h: _amend_overlay(h, ("-c", "user.email=alice@example.invalid"), "# hold\n"),
        # even as the bot (author and committer), the tree is not what the bot wrote
        lambda h: _amend_overlay(h, _BOT, "# hold\n"),
        # a second commit as the bot, touching another file
        lambda h: (
            (h / "NOTE.md").write_text("fix\n"),
            git(h, "add", "NOTE.md"),
            git(h, *_BOT, "commit", "-q", "-m", "note"),
        ),
    ],
    ids=["amend-as-human", "amend-as-bot", "extra-commit-as-bot"],
)
def test_a_human_edit_of_the_bot_commit_is_not_overwritten(
    world: GitOpsWorld, tmp_path: Path, edit
):
    _seeded(world)
    api.run(world.settings(), now=NOW)
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "promote/dev", str(world.remote), str(human))
    edit(human)
    git(human, "push", "-q", "--force", "origin", "promote/dev")
    human_sha = git(human, "rev-parse", "HEAD").strip()

    world.register_model(0.97)  # a newer candidate: the bot would rebuild the branch
    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "comment-human"
    assert git(world.remote, "rev-parse", "promote/dev").strip() == human_sha
    since = world.github.last_seq()
    again = api.run(world.settings(), now=NOW)
    assert next(o for o in again.outcomes if o.env == "dev").action == "noop"
    assert world.github.writes(since) == []  # said once, not on every run
    assert git(world.remote, "rev-parse", "promote/dev").strip() == human_sha


def test_the_bot_still_rebuilds_its_own_branch_for_a_newer_candidate(world: GitOpsWorld):
    _seeded(world)
    api.run(world.settings(), now=NOW)
    before = git(world.remote, "rev-parse", "promote/dev").strip()
    version = world.register_model(0.97)
    report = api.run(world.settings(), now=NOW)
    assert next(o for o in report.outcomes if o.env == "dev").action == "push+update"
    assert git(world.remote, "rev-parse", "promote/dev").strip() != before
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == str(version)


def test_a_run_killed_between_push_and_pr_update_is_finished_not_taken_for_a_human(
    world: GitOpsWorld,
):
    # the branch then holds this plan's pins while the PR body still records the old ones
    _seeded(world)
    api.run(world.settings(), now=NOW)
    world.register_model(0.97)
    world.github.inject("status", method="PATCH", path=r"/pulls/\d+$", status=500, times=100)
    with pytest.raises(BotError):
        api.run(world.settings(), now=NOW)
    world.github.clear_faults()
    pushed = git(world.remote, "rev-parse", "promote/dev").strip()
    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "update"
    assert git(world.remote, "rev-parse", "promote/dev").strip() == pushed


def _push_arm64_only(world: GitOpsWorld, tag: str) -> None:
    """A tag the policy picks whose index has no linux/amd64 image (a broken multi-arch push)."""
    arm = image_manifest(world.registry.url, world.image_repo, {"arch": "arm64"}, arch="arm64")
    by_digest = f"sha256:{hashlib.sha256(arm).hexdigest()}"  # untagged: only the index names it
    arm_digest = put_manifest(world.registry.url, world.image_repo, by_digest, arm)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": arm_digest,
                    "size": len(arm),
                    "platform": {"os": "linux", "architecture": "arm64"},
                }
            ],
        }
    ).encode()
    put_manifest(world.registry.url, world.image_repo, tag, index, media_type=OCI_INDEX)


def test_a_bad_latest_tag_is_skipped_for_the_next_and_says_why(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    _, tag2 = _seeded(world)
    bad = f"0.1.0-{world.build + 1}-badbad0"
    _push_arm64_only(world, bad)
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)

    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert f"dev: PROMOTE image {tag2}" in out or tag2 in out.split("dev: PROMOTE", 1)[1]
    assert f"tag {bad} skipped:" in out and "linux/amd64" in out
    assert "staging: nothing to do" in out  # the other environments carry on

    report = api.run(world.settings(), now=NOW)
    dev = next(o for o in report.outcomes if o.env == "dev")
    assert dev.action == "push+create"
    assert literal(world.overlay_on("promote/dev", "dev"), "MODEL_VERSION") == "2"
    assert tag2 in world.overlay_on("promote/dev", "dev")
    forge = api.connect(world.settings()).forge
    body = forge.open_prs("main", "promote/")["promote/dev"].body
    assert f"tag {bad} skipped:" in body.replace("\\", "")

    assert main(["status"]) == 0
    assert f"tag {bad} skipped:" in capsys.readouterr().out


def test_skipping_bad_tags_is_bounded(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    _seeded(world)
    bad = [f"0.1.0-{world.build + n}-badbad{n}" for n in range(1, MAX_SKIPPED_TAGS + 2)]
    for tag in bad:
        _push_arm64_only(world, tag)
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    assert out.count(" skipped: ") == MAX_SKIPPED_TAGS  # the newest five; no sixth inspection
    assert f"latest tag {bad[0]} was not inspected" in out
    assert "dev: PROMOTE model digits v1 → v2" in out  # the model still moves on its own
