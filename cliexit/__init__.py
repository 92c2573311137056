"""How every entry point turns an outcome into an exit code and one line on stderr.

    0    ok
    1    an operational (domain) error: the package's own exceptions, mapped by the caller
    2    a usage or configuration error: bad flags (click or argparse), or mapped exceptions
    3    unexpected: one line with a hint; ``--traceback`` prints the stack instead
    130  interrupted (Ctrl-C)

Each package keeps its own exception hierarchy and passes an ordered mapping of exception
types to exit codes (the first ``isinstance`` match wins, so list subclasses first). The line
is red on a terminal and plain otherwise (click drops the colour when stderr is not a TTY).
Messages are the exceptions' own text: secrets are redacted where the message is built, and a
caller with secrets at hand passes ``redact`` as well (applied to every line, stacks included).

``run_click`` runs a click command (``--traceback`` is the click option ``traceback_option``
on the root group); ``run_argparse`` runs an argparse program (it adds ``--traceback``).
Lives in its own top-level package because every entry point needs it, including the
container's init container (``app.fetch_model``); it depends on click and the standard library.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import click

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130

ErrorCodes = Mapping[type[BaseException], int]
Redact = Callable[[str], str]
F = TypeVar("F", bound=Callable[..., Any])

_SHOW_TRACEBACK: ContextVar[bool] = ContextVar("cliexit_show_traceback", default=False)


def exit_code_for(exc: BaseException, codes: ErrorCodes) -> int | None:
    """The code of the first type in `codes` that `exc` is an instance of, else None."""
    for kind, code in codes.items():
        if isinstance(exc, kind):
            return code
    return None


def _no_redaction(text: str) -> str:
    return text


def _say(line: str, redact: Redact) -> None:
    click.secho(redact(line), fg="red", err=True)


def report(  # noqa: PLR0911 - one return per kind of outcome: the table of exit codes
    exc: BaseException,
    codes: ErrorCodes = {},  # noqa: B006 - read only
    *,
    show_traceback: bool = False,
    tag: str | None = None,
    redact: Redact | None = None,
) -> int:
    """Print one line about `exc` on stderr and return its exit code.

    `tag` names a tool run as ``python -m …`` (its lines start ``tag:``); without it, a mapped
    error reads ``error: …``. Anything other than Exception, Ctrl-C and SystemExit is re-raised.
    """
    clean = redact or _no_redaction
    lead = f"{tag}: " if tag else ""
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        _say(f"{lead}interrupted", clean)
        return EXIT_INTERRUPTED
    if isinstance(exc, click.exceptions.Exit):
        return int(exc.exit_code)
    if isinstance(exc, click.ClickException):
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else int(exc.exit_code)
    if isinstance(exc, SystemExit):  # argparse's usage errors and --help, sys.exit(...)
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        _say(f"{lead}{exc.code}", clean)
        return EXIT_ERROR
    code = exit_code_for(exc, codes)
    if code is not None:
        _say(f"{tag or 'error'}: {exc}", clean)
        return code
    if not isinstance(exc, Exception):  # GeneratorExit and friends keep their meaning
        raise exc
    if show_traceback:
        sys.stderr.write(clean("".join(traceback.format_exception(exc))))
        _say(f"{lead}unexpected error: {type(exc).__name__}: {exc}", clean)
    else:
        _say(f"{lead}unexpected error: {type(exc).__name__}: {exc} (rerun with --traceback)", clean)
    return EXIT_UNEXPECTED


def _remember_traceback(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        _SHOW_TRACEBACK.set(True)
    return value


def traceback_option(fn: F) -> F:
    """The hidden ``--traceback`` flag for a click root group or command (read by run_click)."""
    option = click.option(
        "--traceback",
        is_flag=True,
        hidden=True,
        is_eager=True,
        expose_value=False,
        callback=_remember_traceback,
        help="Show the stack of an unexpected error.",
    )
    return option(fn)


def run_click(
    command: click.Command,
    argv: Sequence[str] | None = None,
    *,
    prog_name: str,
    codes: ErrorCodes = {},  # noqa: B006 - read only
    redact: Redact | None = None,
) -> int:
    """Run a click command (decorated with `traceback_option`) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    token = _SHOW_TRACEBACK.set(False)
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except BaseException as exc:  # every outcome becomes an exit code here
        return report(exc, codes, show_traceback=_SHOW_TRACEBACK.get(), redact=redact)
    finally:
        _SHOW_TRACEBACK.reset(token)
    return result if isinstance(result, int) else EXIT_OK


def run_argparse(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int],
    *,
    tag: str | None = None,
    codes: ErrorCodes = {},  # noqa: B006 - read only
    redact: Redact | None = None,
) -> int:
    """Parse `argv` with `parser` (plus a hidden ``--traceback``), run `body`, return the code.

    argparse prints its own usage errors (exit 2) and help (exit 0)."""
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return report(exc, tag=tag)
    try:
        return body(args)
    except BaseException as exc:  # every outcome becomes an exit code here
        return report(exc, codes, show_traceback=args.traceback, tag=tag, redact=redact)
