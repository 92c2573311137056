"""Helpers for driving the local GitHub with real PyGithub and real git pushes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class AppKey:
    """A GitHub App's RSA key pair (PEM), generated for the test: the server gets the public
    half, the client signs its JWTs with the private one."""

    private_pem: str = field(repr=False)
    public_pem: str


def new_app_key() -> AppKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return AppKey(private, public)


@pytest.fixture(scope="session")
def app_key() -> AppKey:
    return new_app_key()


@dataclass(frozen=True)
class InstalledApp:
    """A GitHub App registered on the local server and installed on `repo`."""

    app_id: int
    installation_id: int
    key: AppKey
    repo: str
    slug: str


def app_id_for(request: pytest.FixtureRequest) -> int:
    """An app id of this test alone (the server is shared by the session)."""
    from localworld.github.state import stable_id

    return stable_id("app", request.node.nodeid)


@pytest.fixture
def installed_app(
    github: LocalGitHub, checkout: Checkout, app_key: AppKey, request: pytest.FixtureRequest
) -> Iterator[InstalledApp]:
    """A GitHub App with the promotion bot's permissions, installed on the test's repository;
    the server's clock is put back when the test ends."""
    app_id = app_id_for(request)
    installation = github.add_app(app_id, app_key.public_pem, [checkout.full_name])
    yield InstalledApp(app_id, installation, app_key, checkout.full_name, "promotion-bot")
    github.set_clock_offset(0)
