"""Reading what each release branch pins: the batched read equals the per-environment one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.adapters.git import GitRepo
from bot.core.model import State
from bot.deployments import released_pins, released_pins_of, with_deployments
from bot.wiring import connect
from bot.world import read_policy
from localworld.github import LocalGitHub
from localworld.services import Azurite, Registry
from tests.bot.gitops_world import ENVS, GitOpsWorld
from tests.conftest import git

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path: Path, github: LocalGitHub, registry: Registry, azurite: Azurite) -> GitOpsWorld:
    return GitOpsWorld(tmp_path, github, registry, azurite)


def _spawned(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each git command `repo` runs (a spy: git still runs)."""
    calls: list[str] = []
    run, run_stdin = GitRepo._git, GitRepo._git_stdin

    def counted(self: GitRepo, *args: str) -> str:
        calls.append(args[0])
        return run(self, *args)

    def counted_stdin(self: GitRepo, args: list[str], stdin: bytes) -> bytes:
        calls.append(args[0])
        return run_stdin(self, args, stdin)

    monkeypatch.setattr(GitRepo, "_git", counted)
    monkeypatch.setattr(GitRepo, "_git_stdin", counted_stdin)
    return calls


def test_released_pins_of_equals_released_pins_of_each_environment(
    tmp_path: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
):
    """Shipped policy and overlays; `release/dev` at main, `release/staging` at a commit whose
    overlay does not parse, `release/prod` missing, then at a commit without its overlay, then
    at one where the overlay's path is a directory (read one by one)."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    shutil.copy(PROJECT / "promotion.yaml", seed / "promotion.yaml")
    shutil.copytree(PROJECT / "deploy", seed / "deploy")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "remote", "add", "origin", str(bare_remote))
    git(seed, "push", "-q", "origin", "main", "main:release/dev")

    def push_variant(branch: str, change: str, content: str | None) -> None:
        git(seed, "checkout", "-q", "-B", branch, "main")
        target = seed / change
        if content is None or content == "<dir>":
            target.unlink()
        if content == "<dir>":
            target.mkdir()
            (target / "x.yaml").write_text("x: 1\n")
        elif content is not None:
            target.write_text(content)
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", f"{branch}: {change}")
        git(seed, "push", "-q", "-f", "origin", f"{branch}:release/{branch}")

    push_variant("staging", "deploy/overlays/staging/kustomization.yaml", "images: [\n")
    repo = GitRepo.clone(str(bare_remote), tmp_path / "work")
    policy = read_policy(repo, "HEAD", "promotion.yaml", None)
    envs = list(policy.environments)

    for variant in (None, "missing", "<dir>"):
        if variant is not None:
            content = None if variant == "missing" else variant
            push_variant("prod", "deploy/overlays/prod/kustomization.yaml", content)
        repo.fetch()
        calls = _spawned(repo, monkeypatch)
        batched = released_pins_of(repo, policy, envs)
        spawned = list(calls)
        each = {env.name: released_pins(repo, policy, env) for env in envs}
        monkeypatch.undo()
        assert batched == each, variant
        assert each["dev"] is not None and each["dev"][1] is not None
        assert each["staging"] is not None and each["staging"][1:] == (None, None)
        if variant is None:
            assert each["prod"] is None
        else:
            assert each["prod"] is not None and each["prod"][1:] == (None, None)
        if variant != "<dir>":  # one listing of the refs, one batch read of the overlays
            assert spawned == ["for-each-ref", "cat-file"], variant


def test_only_an_environment_a_later_one_would_take_pins_from_is_read(world: GitOpsWorld):
    """Every environment released at main with its Flux's success: a run where no later
    environment can move lists no statuses (the 1,000-environment no-op stays at 9 API calls,
    decision 42); once staging is behind dev, dev's release is read, and only dev's
    (one listing per commit of `release/dev` since its overlay changed)."""
    world.seed_with_dev_due()
    git(world.seed, "push", "-q", "origin", *(f"main:release/{env}" for env in ENVS))
    for env in ENVS:
        world.flux_reports(env)
    services = connect(world.settings())
    since = world.github.last_seq()
    read = services.read_world()
    assert [r for r in world.github.requests(since) if "/statuses" in r["path"]] == []
    assert [read.state.get(env).deployment for env in ENVS] == [None, None, None]

    behind = replace(read.state.get("staging"), image=None)
    state = State(envs={**read.state.envs, "staging": behind})
    since = world.github.last_seq()
    found = with_deployments(services.repo, services.forge, read.policy, state)
    listed = [
        r["path"].rsplit("/", 1)[1]
        for r in world.github.requests(since)
        if "/statuses/" in r["path"]
    ]
    # dev's release commits back to its overlay's last change: the app commit, the seed
    assert listed == git(world.remote, "rev-list", "-2", "refs/heads/release/dev").split()
    dev = found.get("dev").deployment
    assert dev is not None  # every controller reports on the commit all three refs are at
    assert sorted(s.context for s in dev.statuses) == [
        f"kustomization/modelops-{env}/aks-modelops" for env in ("dev", "prod", "staging")
    ]
    assert found.get("staging").deployment is None and found.get("prod").deployment is None
