"""Start and stop the whole local world; record how to reach it in `<dir>/env`."""

from __future__ import annotations

import json
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from localworld.azure_repos.service import start_azure_repos
from localworld.errors import LocalWorldError
from localworld.github.service import start_github
from localworld.process import ServiceProcess, pid_alive, stop_pid
from localworld.services import start_azurite, start_registry

GITHUB_REPOSITORY = "modelops/gitops"
GITHUB_LOGIN = "promotion-bot"
GITHUB_REVIEWERS = ("reviewer",)
# The reviewer teams the shipped promotion.yaml names, seeded in the repository's organization.
GITHUB_TEAMS = ("modelops/ml-reviewers:reviewer", "modelops/sre:reviewer")

# The Azure Repos variant: the same repository as `project/repository`, the same teams as
# teams of the project, the token acting as the pipeline's build service.
AZURE_REPOS_BOT = "modelops Build Service (lw)"
FORGES = ("github", "azure-repos")

ENV_FILE = "env"
PIDS_FILE = "pids.json"


@dataclass
class World:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[ServiceProcess] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def start_world(root: Path, forge: str = "github") -> World:
    """Start every service under `root`, with the GitOps repository on `forge` (the local
    GitHub, or the local Azure Repos: `azure-repos`); on any failure stop what already
    started."""
    if forge not in FORGES:
        raise LocalWorldError(f"unknown forge {forge!r} (known: {', '.join(FORGES)})")
    root = root.resolve()
    world = World(root)
    logs = root / "logs"
    try:
        azurite = start_azurite(root / "azurite", logs)
        world.processes.append(azurite.process)
        world.env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        world.env["MODELSTORE_CONTAINER"] = "models"

        registry = start_registry(root / "registry", logs)
        world.processes.append(registry.process)
        world.env["REGISTRY_HOST"] = registry.host

        git_root = root / "git"
        git_root.mkdir(parents=True, exist_ok=True)
        world.env["LOCALWORLD_GIT_ROOT"] = str(git_root)

        token = secrets.token_hex(20)  # local and fake
        if forge == "azure-repos":
            _start_azure_repos(world, git_root, logs, token)
        else:
            _start_github(world, git_root, logs, token)
        world.env["LOCALWORLD_DIR"] = str(root)
    except BaseException:
        world.stop()
        raise
    return world


def _start_github(world: World, git_root: Path, logs: Path, token: str) -> None:
    """The local GitHub serves the bare repositories under git_root/<owner>/<name>.git; push
    to GITHUB_REMOTE by file path and the API sees it."""
    github = start_github(
        git_root,
        logs,
        [f"{token}:{GITHUB_LOGIN}:{GITHUB_REPOSITORY}"],
        users=GITHUB_REVIEWERS,
        teams=GITHUB_TEAMS,
        repos=[GITHUB_REPOSITORY],
    )
    world.processes.append(github.process)
    world.env["GITHUB_API_URL"] = github.url
    world.env["GITHUB_TOKEN"] = token
    world.env["GITHUB_REPOSITORY"] = GITHUB_REPOSITORY
    world.env["GITHUB_REMOTE"] = str(github.remote_path(GITHUB_REPOSITORY))
    # promotion-bot reads the GitOps repository's git URL from GITOPS_REMOTE.
    world.env["GITOPS_REMOTE"] = world.env["GITHUB_REMOTE"]


def _start_azure_repos(world: World, git_root: Path, logs: Path, token: str) -> None:
    """The local Azure Repos (organization `lw`) with `modelops/gitops`; the bot's settings
    as an Azure Pipelines job would have them (BOT_FORGE and the neutral FORGE_* names)."""
    service = start_azure_repos(
        git_root / "azure-repos",
        logs,
        [f"{token}:{AZURE_REPOS_BOT}"],
        users=GITHUB_REVIEWERS,
        teams=GITHUB_TEAMS,
    )
    world.processes.append(service.process)
    remote = service.create_repo(GITHUB_REPOSITORY)
    world.env["BOT_FORGE"] = "azure-repos"
    world.env["FORGE_API_URL"] = service.url
    world.env["FORGE_TOKEN"] = token
    world.env["FORGE_REPOSITORY"] = GITHUB_REPOSITORY
    world.env["AZURE_REPOS_REMOTE"] = str(remote)
    world.env["GITOPS_REMOTE"] = str(remote)


def write_state(world: World) -> Path:
    env_path = world.root / ENV_FILE
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(world.env.items())]
    tmp = env_path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(env_path)
    pids = {p.name: {"pid": p.pid, "argv0": str(p.argv[0])} for p in world.processes}
    (world.root / PIDS_FILE).write_text(json.dumps(pids, indent=2) + "\n")
    return env_path


def read_env(root: Path) -> dict[str, str]:
    env_path = root / ENV_FILE
    if not env_path.exists():
        raise LocalWorldError(f"{env_path} not found: run `make services-up` first")
    env: dict[str, str] = {}
    for line in env_path.read_text().splitlines():
        if not line.strip():
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        parts = shlex.split(value)
        env[key] = parts[0] if parts else ""
    return env


def _is_ours(pid: int, argv0: str) -> bool:
    """Guard against PID reuse: the process must still run the program we started."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    name = Path(argv0).name.encode()
    return any(Path(part.decode(errors="replace")).name.encode() == name for part in cmdline[:3])


def stop_recorded(root: Path) -> list[str]:
    """Stop the processes recorded by `write_state`; return what was stopped."""
    pids_path = root / PIDS_FILE
    if not pids_path.exists():
        return []
    recorded: dict[str, dict[str, object]] = json.loads(pids_path.read_text())
    stopped = []
    for name, info in recorded.items():
        pid = int(str(info["pid"]))
        if pid_alive(pid) and _is_ours(pid, str(info["argv0"])):
            stop_pid(pid)
            stopped.append(f"{name} (pid {pid})")
    pids_path.unlink()
    (root / ENV_FILE).unlink(missing_ok=True)
    return stopped


def running(root: Path) -> dict[str, bool]:
    pids_path = root / PIDS_FILE
    if not pids_path.exists():
        return {}
    recorded: dict[str, dict[str, object]] = json.loads(pids_path.read_text())
    return {
        name: pid_alive(int(str(info["pid"])))
        and _is_ours(int(str(info["pid"])), str(info["argv0"]))
        for name, info in recorded.items()
    }
