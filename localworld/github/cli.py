"""`python -m localworld.github --root DIR --port P --token T:owner/repo ...`"""

from __future__ import annotations

from pathlib import Path

import click

from cliexit import EXIT_ERROR, run_click
from localworld.github.apps import parse_app_spec
from localworld.github.errors import GitHubServerError
from localworld.github.state import parse_token_spec
from localworld.github.teams import parse_team_spec


@click.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory holding the bare repositories as <owner>/<name>.git.",
)
@click.option("--port", type=int, required=True, help="Port on 127.0.0.1.")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    envvar="LOCALWORLD_GITHUB_TOKENS",
    metavar="TOKEN:[LOGIN:]OWNER/REPO[,...]",
    help="A token, its user (default localworld-bot) and the repositories it may see "
    "(patterns like org/* allowed). Also read, whitespace-separated, from "
    "LOCALWORLD_GITHUB_TOKENS, which keeps tokens out of the process list.",
)
@click.option("--user", "users", multiple=True, help="Another collaborator (reviewer) login.")
@click.option(
    "--team",
    "teams",
    multiple=True,
    metavar="ORG/SLUG[:LOGIN,...]",
    help="A team of organization ORG and its members (who become collaborators too).",
)
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="APP_ID:SLUG:PUBLIC_KEY_FILE:OWNER/REPO[,...]",
    help="A GitHub App (its RSA public key, PEM) installed on these repositories (OWNER/* for "
    "all of OWNER's) with the promotion bot's permissions: contents, pull requests, issues and "
    "statuses write, metadata read.",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="OWNER/NAME",
    help="Create this bare repository under --root if it is missing.",
)
@click.option(
    "--rate-limit",
    type=int,
    default=5000,
    show_default=True,
    help="Core requests per hour and token.",
)
def command(
    *,
    root: Path,
    port: int,
    tokens: tuple[str, ...],
    users: tuple[str, ...],
    teams: tuple[str, ...],
    repos: tuple[str, ...],
    apps: tuple[str, ...],
    rate_limit: int,
) -> None:
    """Serve the subset of GitHub's REST API the promotion bot uses, on 127.0.0.1."""
    from localworld.github.server import serve
    from localworld.services import init_bare_repo

    parsed = [parse_token_spec(spec) for spec in tokens]
    seeded = [parse_team_spec(spec) for spec in teams]
    installed = [parse_app_spec(spec, lambda p: Path(p).read_text()) for spec in apps]
    for full_name in repos:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise click.BadParameter(f"{full_name!r} is not OWNER/NAME", param_hint="--repo")
        if not (root / owner / f"{name}.git").exists():
            init_bare_repo(root / owner / f"{name}.git")
    click.echo(f"localworld github on http://127.0.0.1:{port} serving {root}", err=True)
    serve(root, port, parsed, users, rate_limit, teams=seeded, apps=installed)


def main(argv: list[str] | None = None) -> int:
    return run_click(
        command,
        argv,
        prog_name="python -m localworld.github",
        codes={GitHubServerError: EXIT_ERROR},
    )
