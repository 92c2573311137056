"""`localworld up|down|status|env`: the local world as long-running processes for the demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cliexit import EXIT_ERROR, run_click
from localworld.errors import LocalWorldError
from localworld.world import read_env, running, start_world, stop_recorded, write_state

DEFAULT_DIR = Path(".localworld")
dir_option = click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Where the services keep data, logs, the env file and their PIDs.",
)


@click.group()
def cli() -> None:
    """Start and stop the local stand-ins for Azure Blob, ACR, Git remotes and GitHub."""


@cli.command()
@dir_option
@click.option(
    "--forge",
    type=click.Choice(["github", "azure-repos"]),
    default="github",
    show_default=True,
    help="Where the GitOps repository lives: the local GitHub or the local Azure Repos.",
)
def up(root: Path, forge: str) -> None:
    """Start every service on 127.0.0.1 and write <dir>/env."""
    if any(running(root).values()):
        raise LocalWorldError(f"services already running from {root}; run `make services-down`")
    stop_recorded(root)
    world = start_world(root, forge)
    env_path = write_state(world)
    for proc in world.processes:
        click.echo(f"started {proc.name} (pid {proc.pid})")
        proc.detach()
    click.echo(f"settings written to {env_path} (source it, or let make read it)")


@cli.command()
@dir_option
def down(root: Path) -> None:
    """Stop the services recorded in <dir>, by PID."""
    stopped = stop_recorded(root)
    click.echo("stopped " + ", ".join(stopped) if stopped else "nothing was running")


@cli.command()
@dir_option
def status(root: Path) -> None:
    """Say which recorded services are alive."""
    states = running(root)
    if not states:
        click.echo("no services recorded")
    for name, alive in states.items():
        click.echo(f"{name}: {'running' if alive else 'stopped'}")


@cli.command()
@dir_option
def env(root: Path) -> None:
    """Print the connection settings as shell exports."""
    for key, value in read_env(root).items():
        click.echo(f"export {key}={value!r}")


def main(argv: list[str] | None = None) -> int:
    return run_click(cli, argv, prog_name="localworld", codes={LocalWorldError: EXIT_ERROR})


if __name__ == "__main__":
    sys.exit(main())
