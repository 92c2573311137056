"""`promotion-bot`: a thin click layer over the bot's Python API.

Exit codes are decided in one place (`main`): domain error 1, usage error 2, unexpected 3
(the hidden `--traceback` flag shows the stack), Ctrl-C 130. Commands are click commands on
the `cli` group, so more (`run`, `status`, `release`) plug in with `@cli.command()`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from bot.errors import BotError, SpecError
from bot.imagespec import parse_image_spec, parse_literal_spec
from bot.kustomize import set_pins

EXIT_OK = 0
EXIT_DOMAIN = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", "show_traceback", is_flag=True, hidden=True)
def cli(show_traceback: bool) -> None:
    """Promote images and model versions through GitOps overlays."""


@cli.command("set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="SPEC",
    help="NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]",
)
@click.option(
    "--literal",
    "literals",
    multiple=True,
    metavar="GENERATOR:KEY=VALUE",
    help="a configMapGenerator literal, e.g. model-pin:MODEL_VERSION=4",
)
def set_command(file: Path, images: tuple[str, ...], literals: tuple[str, ...]) -> None:
    """Edit pins in a kustomization FILE in place, changing nothing else in it."""
    if not images and not literals:
        raise click.UsageError("give at least one --image or --literal")
    result = set_pins(
        file,
        images=[parse_image_spec(s) for s in images],
        literals=[parse_literal_spec(s) for s in literals],
    )
    if result.is_empty:
        click.echo(f"{file}: already pinned as asked, nothing changed")
    for line in result.lines():
        click.echo(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    code = EXIT_OK
    try:
        cli.main(args=args, prog_name="promotion-bot", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = int(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.UsageError as exc:
        exc.show()
        code = EXIT_USAGE
    except BotError as exc:
        click.echo(f"error: {exc}", err=True)
        code = EXIT_USAGE if isinstance(exc, SpecError) else EXIT_DOMAIN
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except Exception as exc:  # the one place unexpected errors become exit 3
        if "--traceback" in args:
            traceback.print_exc()
        click.echo(
            f"unexpected error: {type(exc).__name__}: {exc} (rerun with --traceback)", err=True
        )
        code = EXIT_UNEXPECTED
    return code
