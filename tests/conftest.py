"""Session-scoped fixtures for the real local services, and an isolated HOME/git config.

Every service listens on 127.0.0.1 with a free port, keeps its data in a temp dir, is started
at most once per session (only if a test asks for it) and is stopped by PID at the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from localworld.services import Azurite, Registry, init_bare_repo, start_azurite, start_registry

if TYPE_CHECKING:
    from localworld.azure_repos import LocalAzureRepos
    from localworld.azure_repos.contract import Contract as AzureReposContract
    from localworld.github import LocalGitHub
    from localworld.github.contract import Contract
    from scripts.build_image import BuildSpec


# --- parallel runs (`make test`: pytest-xdist, `--dist loadfile`) --------------------------------
# Each worker has its own session: its own services, ports, temp dirs and HOME. What is shared is
# what lives outside them, so a test module runs whole on one worker (its module and package
# fixtures are made once), and the modules below, which share state under build/ or a package
# fixture, run together as if they were one file. (The scheduler below does this by path:
# xdist's `xdist_group` marks are lost on pytest 9.2, whose nodes no longer take `_nodeid`.)
SHARED_GROUPS = {
    "tests/pipelines/": "pipelines",  # the agent's home and kept workspace under build/pipelines
    "tests/bot/report/": "bot-report",  # the package-scoped report world
    "tests/app/test_image.py": "service-image",  # one service image build (`service_image`)
    "tests/scripts/test_smoke.py": "service-image",
}


def worker_group(nodeid: str) -> str:
    """The unit one worker runs whole: the shared group of the test's file, else the file."""
    path = nodeid.split("::", 1)[0]
    return next((g for prefix, g in SHARED_GROUPS.items() if path.startswith(prefix)), path)


@pytest.hookimpl(optionalhook=True)  # xdist's hook: without xdist, pytest runs on regardless
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with each of SHARED_GROUPS counted as one file."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedStateScheduling(LoadFileScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return SharedStateScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the groups holding a `slow` test first: longest first keeps two workers busy to the
    end (the scheduler hands out groups in this order; otherwise the file order is kept)."""
    heavy = {worker_group(item.nodeid) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: worker_group(item.nodeid) not in heavy)  # a stable sort


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never read or write the real home directory or the user's git config."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Runner\n\temail = tests@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    saved = {k: os.environ.get(k) for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    for key in [k for k in os.environ if k.startswith("GIT_") and k not in saved]:
        os.environ.pop(key)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    root = tmp_path_factory.mktemp("azurite")
    service = start_azurite(root / "data", root / "logs")
    yield service
    service.process.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("registry")
    service = start_registry(root / "data", root / "logs")
    yield service
    service.process.stop()


@dataclass(frozen=True)
class ServiceImage:
    """The service image of this checkout, pushed to the session's `registry`."""

    spec: BuildSpec
    digest: str

    @property
    def by_digest(self) -> str:
        return f"{self.spec.registry}/{self.spec.repository}@{self.digest}"


@pytest.fixture(scope="session")
def service_image(registry: Registry) -> Iterator[ServiceImage]:
    """One buildah build of this checkout per session, as `make image` does it (build_and_push),
    pushed to the registry and kept in build/image's storage for the tests that run it; removed
    at the end. (The pipeline's Build stage test builds its own, with the pipeline's steps.)"""
    import datetime as dt
    import time

    from scripts.build_image import CACHE, BuildSpec, build_and_push, remove_image

    revision = git(Path(__file__).resolve().parents[1], "rev-parse", "HEAD").strip()
    spec = BuildSpec(
        registry=registry.host,
        tag=f"0.1.0-1-{revision[:7]}",
        revision=revision,
        version="0.1.0",
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        cache=CACHE,
        keep_local=True,
        source="https://github.com/modelops/modelops",
    )
    started = time.monotonic()
    result = build_and_push(spec)
    print(f"build+push: {time.monotonic() - started:.1f}s {result.timings}")
    assert result.digest is not None
    yield ServiceImage(spec, result.digest)
    remove_image(CACHE, result.image_id)  # every name it got (the tag, a pull by digest)


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    """A fresh bare Git repository (per test) usable as `origin` by file path."""
    return init_bare_repo(tmp_path / "remote.git")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return stdout; raise with stderr on failure."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def seed_remote(work: Path, remote: Path, files: dict[str, str], message: str = "seed") -> str:
    """A new clone at `work` whose first commit (`files`) is pushed to `remote`'s main."""
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", message)
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    return git(work, "rev-parse", "HEAD").strip()


# --- local GitHub (owned by the GitHub team) ---------------------------------------------------

GITHUB_TEST_TOKEN = "lw-test-token"  # a fake token of the local server
GITHUB_REVIEWERS = ("reviewer-1", "reviewer-2")
# The reviewer teams the shipped promotion.yaml names, in the organization of the local world's
# GitOps repository (tests/localworld/github/test_teams.py keeps the two in step).
GITHUB_TEAMS = ("modelops/ml-reviewers:reviewer-1", "modelops/sre:reviewer-2")


@pytest.fixture(scope="session")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGitHub]:
    """The local GitHub API (`github.url` is PyGithub's `base_url`, `github.token` sees every
    repository). Make a repository per test with `github.create_repo("owner/name")` and push to
    `github.remote_path("owner/name")`. Every exchange of a test using it is checked against
    GitHub's OpenAPI description when the test ends (see `_github_contract`)."""
    from localworld.github import start_github

    root = tmp_path_factory.mktemp("github")
    service = start_github(
        root / "repos",
        root / "logs",
        [f"{GITHUB_TEST_TOKEN}:localworld-bot:*/*"],
        users=GITHUB_REVIEWERS,
        teams=GITHUB_TEAMS,
    )
    yield service
    service.process.stop()


@pytest.fixture(scope="session")
def github_openapi() -> Contract:
    """GitHub's OpenAPI description, reduced to the operations the local server serves."""
    from localworld.github.contract import Contract

    return Contract.load()


@pytest.fixture(autouse=True)
def _github_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that talks to the local GitHub fails if any response (or request body) it caused
    is one GitHub's published description does not allow; leftover faults are cleared and the
    server's clock is put back."""
    if "github" not in request.fixturenames:
        yield
        return
    service: LocalGitHub = request.getfixturevalue("github")
    contract: Contract = request.getfixturevalue("github_openapi")
    since = service.last_seq()
    yield
    service.clear_faults()
    service.set_clock_offset(0)  # a test that moved the server's clock (`open_clock`)
    problems = [p for e in service.requests(since, bodies=True) for p in contract.check(e)]
    if problems:
        pytest.fail("responses GitHub could not send:\n" + "\n".join(problems[:20]), pytrace=False)


# --- local Azure Repos ---------------------------------------------------------------------------

AZURE_REPOS_TEST_TOKEN = "lw-azure-repos-token"  # a fake bearer token of the local server
AZURE_REPOS_BOT = "Project Collection Build Service (lw)"  # what System.AccessToken acts as
# The shipped promotion.yaml's reviewer teams, as teams of the project `modelops`.
AZURE_REPOS_TEAMS = ("modelops/ml-reviewers:reviewer-1", "modelops/sre:reviewer-2")


@pytest.fixture(scope="session")
def azure_repos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAzureRepos]:
    """The local Azure Repos (`azure_repos.url` is the organization's URL). Make a repository
    per test with `azure_repos.create_repo("project/name")`; every exchange of a test using it
    is checked against Microsoft's published specifications when the test ends."""
    from localworld.azure_repos import start_azure_repos

    root = tmp_path_factory.mktemp("azure-repos")
    service = start_azure_repos(
        root / "repos",
        root / "logs",
        [f"{AZURE_REPOS_TEST_TOKEN}:{AZURE_REPOS_BOT}"],
        users=GITHUB_REVIEWERS,
        teams=AZURE_REPOS_TEAMS,
    )
    yield service
    service.process.stop()


@pytest.fixture(scope="session")
def azure_repos_spec() -> AzureReposContract:
    from localworld.azure_repos.contract import Contract as AzureReposContract

    return AzureReposContract.load()


@pytest.fixture(autouse=True)
def _azure_repos_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that talks to the local Azure Repos fails if any exchange it caused is one
    Microsoft's specifications do not describe; leftover faults are cleared."""
    if "azure_repos" not in request.fixturenames:
        yield
        return
    service: LocalAzureRepos = request.getfixturevalue("azure_repos")
    contract: AzureReposContract = request.getfixturevalue("azure_repos_spec")
    since = service.last_seq()
    yield
    service.clear_faults()
    service.set_clock_offset(0)  # a test that moved the server's clock (`open_clock`)
    problems = [p for e in service.requests(since, bodies=True) for p in contract.check(e)]
    if problems:
        pytest.fail(
            "responses Azure DevOps could not send:\n" + "\n".join(problems[:20]), pytrace=False
        )
