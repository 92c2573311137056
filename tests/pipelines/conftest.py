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

from localworld.github import LocalGitHub
from localworld.process import ServiceProcess, free_port
from localworld.services import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Registry,
    azurite_binary,
    start_registry,
)
from tests.conftest import GITHUB_REVIEWERS, GITHUB_TEST_TOKEN
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


def _agent(workspace: Path | None = None, **environment: str) -> Agent:
    home = WORK / "agent-home"
    home.mkdir(parents=True, exist_ok=True)
    # The local world's git remotes are paths owned by root (GitHub's are URLs): the agent's
    # git may use them. Global config, because git drops command-line config for local pushes.
    (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
    _chown_tree(home, AGENT_UID)
    WORK.chmod(0o755)
    if workspace is not None:
        workspace.mkdir(parents=True, exist_ok=True)
        os.chown(workspace, AGENT_UID, AGENT_UID)
    return Agent(
        home=home,
        workspace=workspace,
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
    """A self-hosted agent (its workspace kept between runs, so the stages' venv is reused
    after the first run) whose pip installs from the local wheel mirror (mirror.py), never
    the network."""
    mirror = build_mirror(WORK / "mirror")
    # npm likewise: the agent's npm cache starts as a copy of this machine's (`make setup` ran
    # `npm ci`), and npm prefers it to the registry.
    npm_cache = WORK / "agent-home" / ".npm" / "_cacache"
    machine_cache = Path("/root/.npm/_cacache")
    if not npm_cache.exists() and machine_cache.is_dir():
        shutil.copytree(machine_cache, npm_cache)
    # Images the smoke runs pulled into the kept checkout (root's buildah storage) would pile
    # up run after run: start each session without them.
    for leftover in ("storage", "run"):
        shutil.rmtree(WORK / "agent-work" / "1" / "s" / "build" / "image" / leftover, True)
    return _agent(
        WORK / "agent-work" / "1",
        PIP_FIND_LINKS=str(mirror),
        PIP_NO_INDEX="1",
        npm_config_prefer_offline="true",
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )


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
    cache_dir: Path | None = None,
) -> Runner:
    return Runner(
        pipeline,
        source=source,
        agent=agent,
        work=work,
        predefined=predefined(source, **(overrides or {})),
        variable_groups=groups or {},
        service_connections=connections(acr),
        cache_dir=cache_dir,
    )


# --- the bot's world: GitHub, model store (Azure AD tokens over HTTPS), registry ---------------


@dataclass(frozen=True)
class SecureAzurite:
    """Azurite over HTTPS with Azure AD (bearer token) auth, like a real storage account used
    with DefaultAzureCredential; `connection_string` is for the test's own setup only."""

    process: ServiceProcess
    port: int
    ca_bundle: Path

    @property
    def blob_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=https;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localworld storage")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _https_ready(url: str, cafile: Path) -> bool:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(cafile))
    try:
        urllib.request.urlopen(url, timeout=1, context=context)  # noqa: S310 (loopback)
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


@pytest.fixture(scope="session")
def secure_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureAzurite]:
    root = tmp_path_factory.mktemp("secure-azurite")
    cert, key = _self_signed(root)
    # The agent's (and this test's) trust store: the system CAs plus the local one.
    bundle = WORK / "ca-bundle.pem"
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    bundle.write_text((system.read_text() if system.exists() else "") + cert.read_text())
    bundle.chmod(0o644)
    port = free_port()
    process = ServiceProcess(
        name="azurite-https",
        argv=[
            str(azurite_binary()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(root / "data"),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--oauth",
            "basic",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
        ],
        log_path=root / "azurite.log",
        ready=lambda: _https_ready(f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list", cert),
    ).start()
    yield SecureAzurite(process, port, bundle)
    process.stop()


@pytest.fixture(scope="session")
def pipeline_github() -> Iterator[LocalGitHub]:
    """A local GitHub whose repositories the agent user can reach (pytest's tmp dirs are
    private to root)."""
    from localworld.github import start_github

    root = WORK / "runs" / f"github-{uuid.uuid4().hex[:8]}"
    service = start_github(
        root / "repos",
        root / "logs",
        [f"{GITHUB_TEST_TOKEN}:localworld-bot:*/*"],
        users=GITHUB_REVIEWERS,
    )
    yield service
    service.process.stop()
    shutil.rmtree(root, ignore_errors=True)


def share_with_agent(repository: Path) -> None:
    """The agent user may read and push to this bare repository (as GitHub would let it)."""
    for path in [repository, *repository.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o777 if path.is_dir() else path.stat().st_mode | 0o666)
    parent = repository.parent
    while parent != WORK and WORK in parent.parents:
        parent.chmod(parent.stat().st_mode | 0o755)
        parent = parent.parent
