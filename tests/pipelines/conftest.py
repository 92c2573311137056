"""The test agent, the local ACR (token auth), a snapshot of this checkout to build from, and
the predefined variables of a CI run, for running azure-pipelines.yml stages."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from localworld.services import Registry, start_registry
from tests.pipelines.mirror import build_mirror
from tests.pipelines.runner import AGENT_UID, Agent, Runner, ServiceConnection

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "azure-pipelines.yml"
WORK = ROOT / "build" / "pipelines"  # readable by the agent user (pytest's tmp dirs are not)
ACR_USER = "00000000-0000-0000-0000-000000000000"
ACR_NAME = "modelopsacr"


@dataclass(frozen=True)
class Acr:
    registry: Registry
    token: str

    @property
    def login_server(self) -> str:
        return self.registry.host

    def auth(self) -> dict[str, str]:
        basic = base64.b64encode(f"{ACR_USER}:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}


@pytest.fixture(scope="session")
def acr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Acr]:
    """A registry that, like ACR, takes the `az acr login --expose-token` token as the password
    of the all-zero user (basic auth over loopback HTTP)."""
    root = tmp_path_factory.mktemp("acr")
    token = "acr-" + secrets.token_urlsafe(24)
    htpasswd = root / "htpasswd"
    hashed = bcrypt.hashpw(token.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{ACR_USER}:{hashed}\n")
    service = start_registry(root / "data", root / "logs", htpasswd=htpasswd)
    yield Acr(service, token)
    service.process.stop()


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for child in path.rglob("*"):
        os.lchown(child, uid, uid)


def _agent(**environment: str) -> Agent:
    home = WORK / "agent-home"
    home.mkdir(parents=True, exist_ok=True)
    _chown_tree(home, AGENT_UID)
    WORK.chmod(0o755)
    return Agent(
        home=home,
        tools={"3.11": Path("/usr/bin/python3.11")},
        environment={"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1", **environment},
    )


@pytest.fixture(scope="session")
def agent() -> Agent:
    """uid 1001 with a home under build/ (kept between runs, like a self-hosted agent's) and
    the Debian python3.11 as its tool cache."""
    return _agent()


@pytest.fixture(scope="session")
def pip_agent() -> Agent:
    """The agent whose pip installs from the local wheel mirror (mirror.py), never the network."""
    mirror = build_mirror(WORK / "mirror")
    return _agent(PIP_FIND_LINKS=str(mirror), PIP_NO_INDEX="1")


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This checkout's files (tracked and new, not ignored) committed into a fresh repository:
    what the pipeline checks out. Its HEAD is Build.SourceVersion."""
    snapshot = WORK / "runs" / f"source-{uuid.uuid4().hex[:8]}"
    snapshot.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            dst = snapshot / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", "-C", str(snapshot), *args], check=True, capture_output=True)
    _chown_tree(snapshot, AGENT_UID)  # git refuses to serve a repository of another user
    yield snapshot
    shutil.rmtree(snapshot, ignore_errors=True)


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(repo), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def predefined(source: Path, **overrides: str) -> dict[str, str]:
    """Azure DevOps' predefined variables for a CI run of main (override per run)."""
    values = {
        "Build.BuildId": "4711",
        "Build.BuildNumber": "20261127.3",
        "Build.DefinitionName": "modelops",
        "Build.Reason": "IndividualCI",
        "Build.SourceBranch": "refs/heads/main",
        "Build.SourceBranchName": "main",
        "Build.SourceVersion": head(source),
        "Build.Repository.Name": "team/modelops",
        "Build.Repository.Uri": "https://github.com/team/modelops",
        "Build.Repository.Provider": "GitHub",
        "Build.CronSchedule.DisplayName": "",
        "System.TeamProject": "modelops",
        "System.CollectionUri": "https://dev.azure.com/contoso/",
        "System.AccessToken": "ado-" + secrets.token_urlsafe(16),
        "Agent.OS": "Linux",
    }
    values.update(overrides)
    return values


def connections(acr: Acr) -> list[ServiceConnection]:
    azure = {
        "subscriptionId": "00000000-0000-0000-0000-0000000000aa",
        "subscription": "modelops",
        "acrName": ACR_NAME,
        "loginServer": acr.login_server,
        "token": acr.token,
    }
    docker = {
        "loginServer": acr.login_server,
        "token": acr.token,
        # The "Docker daemon" keeps its images where `make image` does, so the Debian base
        # made once is reused.
        "storage": str(ROOT / "build" / "image"),
    }
    return [
        ServiceConnection("modelops-azure", "azurerm", azure),
        ServiceConnection("modelops-acr", "dockerregistry", docker),
    ]


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = WORK / "runs" / uuid.uuid4().hex[:10]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_runner(
    *,
    source: Path,
    agent: Agent,
    work: Path,
    acr: Acr,
    pipeline: Path = PIPELINE,
    groups: dict[str, dict[str, tuple[str, bool]]] | None = None,
    overrides: dict[str, str] | None = None,
) -> Runner:
    return Runner(
        pipeline,
        source=source,
        agent=agent,
        work=work,
        predefined=predefined(source, **(overrides or {})),
        variable_groups=groups or {},
        service_connections=connections(acr),
    )
