"""`promotion-bot rollback ENV`: a PR putting the pins back from before the last promotion, the
reason in the commit; once merged, the next run does not propose the rolled-back pins again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from github import Auth, Github

from bot import api
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
    world: GitOpsWorld,
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
    assert api.rollback(world.settings(), "dev", WHY, to=seed).action == "noop"  # at those pins


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
