"""Reading what each release branch pins: the batched read equals the per-environment one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.adapters.git import GitRepo
from bot.deployments import released_pins, released_pins_of
from bot.world import read_policy
from tests.conftest import git

PROJECT = Path(__file__).resolve().parents[2]


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
