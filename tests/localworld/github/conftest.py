"""Helpers for driving the local GitHub with real PyGithub and real git pushes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from github import Auth, Github
from github.Repository import Repository

from localworld.github import LocalGitHub
from tests.conftest import git


def client(github: LocalGitHub, token: str | None = None, **kwargs: object) -> Github:
    """PyGithub pointed at the local server, without its client-side throttling or retries
    (tests that want retries pass `retry=`)."""
    options: dict[str, object] = {
        "retry": None,
        "seconds_between_requests": None,
        "seconds_between_writes": None,
        "timeout": 10,
    }
    options.update(kwargs)
    return Github(base_url=github.url, auth=Auth.Token(token or github.token), **options)  # type: ignore[arg-type]


@dataclass
class Checkout:
    """A working clone of a served repository: commit files and push by file path."""

    path: Path
    remote: Path
    full_name: str

    def commit(self, branch: str, files: dict[str, str], message: str) -> str:
        if branch in git(self.path, "branch", "--list", branch):
            git(self.path, "checkout", "-q", branch)
        else:
            git(self.path, "checkout", "-q", "-b", branch)
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(self.path, "add", name)
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD").strip()

    def push(self, branch: str, *, force: bool = False) -> None:
        git(self.path, "push", "-q", *(["--force"] if force else []), "origin", branch)

    def start_branch(self, branch: str, base: str = "main") -> None:
        git(self.path, "checkout", "-q", "-B", branch, f"origin/{base}")

    def fetch(self) -> None:
        git(self.path, "fetch", "-q", "origin")

    def remote_sha(self, branch: str) -> str:
        return git(self.remote, "rev-parse", f"refs/heads/{branch}").strip()


@pytest.fixture
def checkout(github: LocalGitHub, tmp_path: Path, request: pytest.FixtureRequest) -> Checkout:
    """A fresh served repository `localworld/<test name>` with one commit on `main`."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:90]
    full_name = f"localworld/{name}"
    remote = github.create_repo(full_name)
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    co = Checkout(work, remote, full_name)
    co.commit("main", {"deploy/overlays/dev/kustomization.yaml": "newTag: '1'\n"}, "initial")
    co.push("main")
    return co


@pytest.fixture
def gh(github: LocalGitHub) -> Github:
    return client(github)


@pytest.fixture
def repo(gh: Github, checkout: Checkout) -> Iterator[Repository]:
    yield gh.get_repo(checkout.full_name)
