"""`promotion-bot rollback ENV`: a PR putting the pins back from before the last promotion, the
reason in the commit; once merged, the next run does not propose the rolled-back pins again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from github import Auth, Github

from bot import api
from bot.adapters.git import GitRepo, PushRejectedError
from bot.cli import main
from bot.errors import BotError
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld, literal
from tests.conftest import git

NOW = datetime.now(UTC)
WHY = "p99 latency doubled after the promotion"


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    gw = GitOpsWorld(tmp_path, github, registry, azurite)
    tag1 = gw.push_image(gw.init_repo())
    gw.register_model(0.95)
    gw.seed_repo(tag=tag1, model_version=1)
    return gw


def test_rollback_proposes_the_pins_before_the_last_promotion_and_they_stay_rolled_back(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(BotError, match="no promotion by the bot"):
        api.rollback(world.settings(), "dev", WHY)  # nothing promoted yet: name --to
    tag1 = next(iter(world.digests))
    seed = world.head()
    tag2 = world.push_image(world.app_commit("app: faster predict"))
    world.register_model(0.96)
    world.merge_dev(NOW)  # dev promoted to tag2 + v2; CI green; automerged
    assert f"newTag: {tag2}" in world.overlay_on("main", "dev")

    proposed = api.rollback(world.settings(), "dev", WHY)
    assert proposed.action == "push+create" and proposed.pr_number is not None
    branch = world.overlay_on("rollback/dev", "dev")
    assert f"newTag: {tag1}" in branch and literal(branch, "MODEL_VERSION") == "1"
    message = git(world.remote, "log", "-1", "--format=%B", "rollback/dev")
    assert message.startswith(f"rollback(dev): image {tag2} → {tag1}, model digits v2 → v1")
    assert f"Reason: {WHY}" in message and "Rolls back the promotion " in message
    since = world.github.last_seq()
    assert api.rollback(world.settings(), "dev", WHY).action == "noop"  # already proposed
    assert world.github.writes(since) == []

    person = Github(base_url=world.github.url, auth=Auth.Token(world.github.token), retry=None)
    person.get_repo(world.repo_name).get_pull(proposed.pr_number).merge(merge_method="merge")
    assert f"newTag: {tag1}" in world.overlay_on("main", "dev")
    since = world.github.last_seq()
    dev = next(o for o in api.run(world.settings(), now=NOW).outcomes if o.env == "dev")
    assert dev.action == "none" and f"image {tag2} was rolled back" in dev.reason, dev.reason
    assert world.github.writes(since) == []
    # `status` names the rejected pins, and `--json` has them
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    rows = {r["env"]: r for r in json.loads(capsys.readouterr().out)}
    rejected = rows["dev"]["rejected"]
    assert f"image {tag2} was rolled back by" in rejected and "model v2 was rolled back" in rejected
    assert rows["staging"]["rejected"] == "none"
    assert main(["status"]) == 0
    assert f"  rejected:   image {tag2} was rolled back by" in capsys.readouterr().out
    assert world.github.writes(since) == []
    assert api.rollback(world.settings(), "dev", WHY, to=seed).action == "noop"  # at those pins


def test_a_promotion_a_person_squash_merged_is_still_the_bots(world: GitOpsWorld):
    """github.com authors a squash merge by the PR's author (the bot's account, by its noreply
    address), whoever merges it: `rollback` without `--to` finds that promotion; a person's
    own commit with the same subject is not one (decision 24)."""
    tag1 = next(iter(world.digests))
    tag2 = world.push_image(world.app_commit("app: faster predict"))
    dev = next(o for o in api.run(world.settings(), now=NOW).outcomes if o.env == "dev")
    assert dev.pr_number is not None, dev.reason
    world.github.add_token("ann-token", [world.repo_name], login="ann")
    ann = Github(base_url=world.github.url, auth=Auth.Token("ann-token"), retry=None)
    ann.get_repo(world.repo_name).get_pull(dev.pr_number).merge(merge_method="squash")
    author = git(world.remote, "log", "-1", "--format=%ae", "main").strip()
    assert author.endswith("+localworld-bot@users.noreply.github.com"), author
    squashed = git(world.remote, "rev-parse", "main").strip()

    proposed = api.rollback(world.settings(), "dev", WHY)
    assert proposed.action == "push+create"
    assert f"newTag: {tag1}" in world.overlay_on("rollback/dev", "dev")
    message = git(world.remote, "log", "-1", "--format=%B", "rollback/dev")
    assert f"Rolls back the promotion {squashed[:12]}" in message
    assert f"image {tag2} → {tag1}" in message

    # a person's commit on main with a promotion's subject is a person's change
    world.pull()
    overlay = world.seed / "deploy" / "overlays" / "dev" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + "# by hand\n")
    git(world.seed, "commit", "-q", "-am", "Promote dev: by hand")
    git(world.seed, "push", "-q", "origin", "main")
    again = api.rollback(world.settings(), "dev", WHY)
    message = git(world.remote, "log", "-1", "--format=%B", "rollback/dev")
    assert again.action == "push+update" and f"promotion {squashed[:12]}" in message


def test_the_cli_rolls_back_to_a_named_commit_and_refuses_bad_input(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    seed = world.head()
    world.push_image(world.app_commit("app: faster predict"))
    world.merge_dev(NOW)
    assert main(["rollback", "dev", "--reason", " "]) == 2
    assert "a hold needs a reason" in capsys.readouterr().err
    assert main(["rollback", "dev", "--reason", WHY, "--to", "nope"]) == 2
    assert "--to nope: no such commit" in capsys.readouterr().err
    assert main(["rollback", "dev", "--reason", WHY, "--to", seed, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "push+create" and out["env"] == "dev"


def _allow_direct(world: GitOpsWorld, env: str = "dev") -> None:
    """A person allows `rollback --direct` for `env` in promotion.yaml (shipped: not allowed)."""
    world.pull()
    policy = world.seed / "promotion.yaml"
    text = policy.read_text()
    anchor = f"  - name: {env}\n"
    assert anchor in text
    policy.write_text(text.replace(anchor, f"{anchor}    rollback: {{direct: true}}\n", 1))
    git(world.seed, "commit", "-q", "-am", f"{env}: rollbacks may go straight to main")
    git(world.seed, "push", "-q", "origin", "main")


def test_a_direct_rollback_is_refused_where_the_policy_does_not_allow_it(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    world.push_image(world.app_commit("app: faster predict"))
    world.merge_dev(NOW)
    refs = git(world.remote, "for-each-ref")
    since = world.github.last_seq()
    assert main(["rollback", "dev", "--reason", WHY, "--direct"]) == 2
    assert "--direct is not allowed by promotion.yaml" in capsys.readouterr().err
    assert git(world.remote, "for-each-ref") == refs
    assert world.github.writes(since) == []


def test_a_direct_rollback_pushes_to_main_with_the_reason_and_sticks(world: GitOpsWorld):
    tag1 = next(iter(world.digests))
    tag2 = world.push_image(world.app_commit("app: faster predict"))
    world.register_model(0.96)
    world.merge_dev(NOW)
    _allow_direct(world)
    opened = api.rollback(world.settings(), "dev", WHY)  # a PR first; the direct push closes it
    assert opened.action == "push+create" and opened.pr_number is not None
    main_before = git(world.remote, "rev-parse", "main").strip()

    pushed = api.rollback(world.settings(), "dev", WHY, direct=True)
    assert pushed.action == "push" and pushed.pr_number is None, pushed
    overlay = world.overlay_on("main", "dev")
    assert f"newTag: {tag1}" in overlay and literal(overlay, "MODEL_VERSION") == "1"
    assert git(world.remote, "rev-parse", "main^").strip() == main_before  # one commit on top
    message = git(world.remote, "log", "-1", "--format=%B", "main")
    assert message.startswith(f"rollback(dev): image {tag2} → {tag1}, model digits v2 → v1")
    assert f"Reason: {WHY}" in message and "Pushed to main directly" in message
    forge = api.connect(world.settings()).forge
    assert forge.get_pr(opened.pr_number).state == "closed"

    since = world.github.last_seq()
    assert api.rollback(world.settings(), "dev", WHY, direct=True).action == "noop"
    dev = next(o for o in api.run(world.settings(), now=NOW).outcomes if o.env == "dev")
    assert dev.action == "none" and f"image {tag2} was rolled back" in dev.reason, dev.reason
    assert world.github.writes(since) == []


def test_a_direct_rollback_never_overwrites_a_main_that_moved(
    world: GitOpsWorld, monkeypatch: pytest.MonkeyPatch
):
    world.push_image(world.app_commit("app: faster predict"))
    world.merge_dev(NOW)
    _allow_direct(world)
    original = GitRepo.push_with_lease

    def rival_first(repo: GitRepo, local: str, branch: str, expected: str | None) -> None:
        world.app_commit("app: someone pushes to main meanwhile")
        original(repo, local, branch, expected)

    monkeypatch.setattr(GitRepo, "push_with_lease", rival_first)
    with pytest.raises(PushRejectedError, match="moved since it was read"):
        api.rollback(world.settings(), "dev", WHY, direct=True)
    assert git(world.remote, "log", "-1", "--format=%s", "main").strip() == (
        "app: someone pushes to main meanwhile"
    )
