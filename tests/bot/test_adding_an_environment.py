"""Adding an environment is an overlay and a policy entry, nothing else: a `qa` environment
between staging and prod goes through plan, run, validate and release on the local world."""

from __future__ import annotations

import copy
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot import api
from bot.cli import main
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import GitOpsWorld
from tests.conftest import git


def _add_qa(world: GitOpsWorld, tag: str, model_version: int) -> None:
    """Copy the staging overlay to `qa` and put `qa` between staging and prod in the policy."""
    overlays = world.seed / "deploy" / "overlays"
    shutil.copytree(overlays / "staging", overlays / "qa")
    for path in (overlays / "qa").iterdir():
        path.write_text(path.read_text().replace("staging", "qa"))
    yaml = YAML()
    policy_path = world.seed / "promotion.yaml"
    policy = yaml.load(policy_path.read_text())
    envs = policy["environments"]
    names = [env["name"] for env in envs]
    staging = envs[names.index("staging")]
    qa = copy.deepcopy(staging)
    qa["name"], qa["overlay"] = "qa", "deploy/overlays/qa/kustomization.yaml"
    qa["source"] = {"previous": "staging"}
    qa["labels"] = ["promotion", "env/qa"]
    envs[names.index("prod")]["source"]["previous"] = "qa"
    envs.insert(names.index("prod"), qa)
    for env in envs[:-1]:  # no reviewer in the loop up to qa; prod keeps its review
        env["automerge"] = True
    with policy_path.open("w") as fh:
        yaml.dump(policy, fh)
    world.pin("qa", tag, model_version)
    git(world.seed, "add", ".")
    git(world.seed, "commit", "-q", "-m", "add the qa environment")
    git(world.seed, "push", "-q", "origin", "main")


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    world = GitOpsWorld(tmp_path, github, registry, azurite)
    tag1 = world.push_image(world.init_repo())
    world.register_model(0.95)
    world.seed_repo(tag=tag1, model_version=1)
    _add_qa(world, tag1, 1)
    return world


def test_qa_between_staging_and_prod_is_planned_run_validated_and_released(
    world: GitOpsWorld, capsys: pytest.CaptureFixture[str]
):
    assert main(["validate", str(world.seed)]) == 0
    assert "(dev, staging, qa, prod)" in capsys.readouterr().out

    tag2 = world.push_image(world.app_commit("app: faster predict"))
    start = world.open_clock()  # no freeze window (the shipped ones, qa's too) gets in the way
    _, result = api.make_plan(api.connect(world.settings()), start)
    assert [p.env for p in result.envs] == ["dev", "staging", "qa", "prod"]

    now = start
    for env, previous in (("dev", None), ("staging", "dev"), ("qa", "staging")):
        if previous is not None:  # once the one before shipped and its cluster confirmed
            now = world.at(world.ship(previous, now) + timedelta(hours=2))
        opened = next(o for o in api.run(world.settings(), now=now).outcomes if o.env == env)
        assert opened.label == "push+create", opened.reason
        world.ci_reports(env)  # CI passes on the PR head; the next run merges it
        merged = next(o for o in api.run(world.settings(), now=now).outcomes if o.env == env)
        assert merged.label == "merged", merged.reason
        assert f"newTag: {tag2}" in world.overlay_on("main", env)

    confirmed = world.ship("qa", now)
    report = api.run(world.settings(), now=world.at(confirmed + timedelta(hours=30)))
    prod = next(o for o in report.outcomes if o.env == "prod")
    assert prod.action == "push+create", prod.reason  # prod follows qa, not staging
    assert f"newTag: {tag2}" in world.overlay_on("promote/prod", "prod")
    released = world.remote_file("release/qa", "deploy/overlays/qa/kustomization.yaml")
    assert f"newTag: {tag2}" in released
