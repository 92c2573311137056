"""Start the local Azure Repos as a process of the local world, and the handle tests use.

The handle has the local GitHub's shape (`url`, `token`, `create_repo`, `remote_path`,
`last_seq`, `writes`, `inject`, `clear_faults`), so a test can run against either forge.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localworld.azure_repos.server import TOKENS_ENV
from localworld.errors import LocalWorldError
from localworld.forgehandle import AdminClient
from localworld.process import LOOPBACK, ServiceProcess, free_port
from localworld.services import http_status, init_bare_repo

# Azure DevOps' read-only POSTs: queries with a body, not writes.
QUERY_OPERATIONS = frozenset({"Commits_Get Commits Batch", "Wiql_Query By Wiql"})


@dataclass(frozen=True)
class LocalAzureRepos(AdminClient):
    """A running server: `url` is the organization's URL (`System.CollectionUri`); repositories
    are `project/name`, bare at `root/<org>/<project>/<name>.git`."""

    process: ServiceProcess
    port: int
    root: Path
    token: str
    organization: str = "lw"

    READ_OPERATIONS = QUERY_OPERATIONS

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{self.organization}"

    def remote_path(self, full_name: str) -> Path:
        project, _, name = full_name.partition("/")
        return self.root / self.organization / project / f"{name}.git"

    def create_repo(self, full_name: str, default_branch: str = "main") -> Path:
        path = self.remote_path(full_name)
        if path.exists():
            raise LocalWorldError(f"repository {full_name} already exists at {path}")
        return init_bare_repo(path, default_branch)

    def add_token(self, token: str, name: str) -> None:
        self._admin("POST", "/tokens", {"token": token, "name": name})

    def add_user(self, name: str) -> None:
        self._admin("POST", "/users", {"name": name})

    def add_team(self, team: str, members: Sequence[str] = ()) -> None:
        project, _, name = team.partition("/")
        self._admin("POST", "/teams", {"project": project, "name": name, "members": list(members)})

    def set_clock_offset(self, seconds: float) -> str:
        """Shift the server's clock: timestamps it writes from now on (merge commits,
        statuses, PRs) are real time + `seconds`. Returns the server's new "now"."""
        now: str = self._admin("POST", "/clock", {"offset_seconds": seconds})["now"]
        return now

    def vote(self, pull_request_id: int, reviewer: str, vote: int) -> None:
        body = {"pull_request_id": pull_request_id, "reviewer": reviewer, "vote": vote}
        self._admin("POST", "/votes", body)


def start_azure_repos(
    root: Path,
    log_dir: Path,
    tokens: Sequence[str],
    *,
    port: int | None = None,
    users: Sequence[str] = (),
    teams: Sequence[str] = (),
) -> LocalAzureRepos:
    """Run `python -m localworld.azure_repos` on a free port; `tokens` as `TOKEN:NAME`, `teams`
    as `PROJECT/TEAM[:MEMBER,...]`."""
    if not tokens:
        raise LocalWorldError("the local Azure Repos needs at least one token")
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "localworld.azure_repos",
        "--root",
        str(root),
        "--port",
        str(port),
    ]
    for user in users:
        argv += ["--user", user]
    for team in teams:
        argv += ["--team", team]
    env = {**os.environ, TOKENS_ENV: "\n".join(tokens)}
    proc = ServiceProcess(
        name="azure-repos",
        argv=argv,
        log_path=log_dir / "azure-repos.log",
        env=env,
        ready=lambda: http_status(f"http://{LOOPBACK}:{port}/_localworld/health") == 200,
    ).start()
    return LocalAzureRepos(proc, port, root.resolve(), tokens[0].partition(":")[0])
