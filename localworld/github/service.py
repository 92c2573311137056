"""Start the local GitHub as a process of the local world, and the handle tests drive it by."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localworld.errors import LocalWorldError
from localworld.forgehandle import AdminClient
from localworld.process import LOOPBACK, ServiceProcess, free_port
from localworld.services import http_status, init_bare_repo


@dataclass(frozen=True)
class LocalGitHub(AdminClient):
    """A running server: `url` is PyGithub's `base_url`; `root` holds `<owner>/<name>.git`."""

    process: ServiceProcess
    port: int
    root: Path
    token: str
    login: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def remote_path(self, full_name: str) -> Path:
        """The bare repository behind `owner/name`: push to it by this file path."""
        owner, _, name = full_name.partition("/")
        return self.root / owner / f"{name}.git"

    def create_repo(self, full_name: str, default_branch: str = "main") -> Path:
        """A new empty bare repository the server serves at once."""
        path = self.remote_path(full_name)
        if path.exists():
            raise LocalWorldError(f"repository {full_name} already exists at {path}")
        return init_bare_repo(path, default_branch)

    def add_token(self, token: str, repos: Sequence[str], login: str = "localworld-bot") -> None:
        self._admin("POST", "/tokens", {"token": token, "login": login, "repos": list(repos)})

    def add_user(self, login: str) -> None:
        self._admin("POST", "/users", {"login": login})

    def add_team(self, team: str, members: Sequence[str] = ()) -> dict[str, Any]:
        """Seed the team `org/slug` with `members` (replacing the members of an existing one);
        members become collaborators. GitHub's `GET /orgs/{org}/teams/{slug}` then finds it
        and it can be requested as a reviewer on that organization's repositories."""
        org, _, slug = team.partition("/")
        body = {"org": org, "slug": slug, "members": list(members)}
        seeded: dict[str, Any] = self._admin("POST", "/teams", body)
        return seeded

    def add_app(
        self,
        app_id: int,
        public_key: str,
        repos: Sequence[str],
        *,
        slug: str = "promotion-bot",
        permissions: Mapping[str, str] | None = None,
        installation_id: int = 0,
    ) -> int:
        """Register a GitHub App with its RSA public key (PEM) and install it on `repos`
        (`owner/name` or `owner/*`, one owner), with `permissions` (default: the promotion
        bot's, `localworld.github.apps.DEFAULT_PERMISSIONS`). Returns the installation id. The
        app then authenticates with JWTs signed by the private key (`GET /app`, ...)."""
        body: dict[str, Any] = {
            "app_id": app_id,
            "slug": slug,
            "public_key": public_key,
            "repos": list(repos),
            "installation_id": installation_id,
        }
        if permissions is not None:
            body["permissions"] = dict(permissions)
        installed: int = self._admin("POST", "/apps", body)["installation_id"]
        return installed

    def set_clock_offset(self, seconds: float) -> str:
        """Shift the server's clock: timestamps it writes from now on are real time + `seconds`
        (statuses, PRs, comments, merges), and JWTs and installation tokens are judged by it
        (an installation token expires once it is an hour old on this clock). Returns the
        server's new "now"."""
        now: str = self._admin("POST", "/clock", {"offset_seconds": seconds})["now"]
        return now


def start_github(
    root: Path,
    log_dir: Path,
    tokens: Sequence[str],
    *,
    port: int | None = None,
    users: Sequence[str] = (),
    teams: Sequence[str] = (),
    repos: Sequence[str] = (),
    apps: Sequence[str] = (),
    rate_limit: int | None = None,
) -> LocalGitHub:
    """Run `python -m localworld.github` on a free port; `tokens` as `TOKEN:[LOGIN:]REPOS`,
    `teams` as `ORG/SLUG[:LOGIN,...]`, `apps` as `APP_ID:SLUG:PUBLIC_KEY_FILE:OWNER/REPO[,...]`."""
    from localworld.github.state import parse_token_spec

    if not tokens:
        raise LocalWorldError("the local GitHub needs at least one --token")
    first = parse_token_spec(tokens[0])
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "localworld.github", "--root", str(root), "--port", str(port)]
    # Tokens travel in the environment, not argv: /proc/<pid>/cmdline is world-readable.
    env = {**os.environ, "LOCALWORLD_GITHUB_TOKENS": " ".join(tokens)}
    for login in users:
        argv += ["--user", login]
    for team in teams:
        argv += ["--team", team]
    for full_name in repos:
        argv += ["--repo", full_name]
    for app in apps:
        argv += ["--app", app]
    if rate_limit is not None:
        argv += ["--rate-limit", str(rate_limit)]
    proc = ServiceProcess(
        name="github",
        argv=argv,
        log_path=log_dir / "github.log",
        env=env,
        ready=lambda: http_status(f"http://{LOOPBACK}:{port}/_localworld/health") == 200,
    ).start()
    return LocalGitHub(proc, port, root.resolve(), first.value, first.login)
