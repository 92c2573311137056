"""How every entry point turns an outcome into an exit code and one line on stderr.

    0    ok
    1    an operational (domain) error: the package's own exceptions, mapped by the caller
    2    a usage or configuration error: bad flags (click or argparse), or mapped exceptions
    3    unexpected: one line with a hint to rerun with ``--traceback``, which adds the stack
    130  interrupted (Ctrl-C)

Each package keeps its own exception hierarchy and passes an ordered mapping of exception
types to exit codes (the first ``isinstance`` match wins, so list subclasses first). The line
is red on a terminal and plain otherwise (click drops the colour when stderr is not a TTY).
Messages are the exceptions' own text: secrets are redacted where the message is built; here
every line (stacks included) also loses storage keys, SAS signatures and URL passwords
(``redact_secrets``, for the unexpected errors nobody wrote a message for), and a caller with
its own secrets at hand passes ``redact`` as well. Messages quote servers' replies, so the line
is made ``inert``: control and format characters but line breaks and tabs are shown as escapes.

``run_click`` runs a click command and gives it, and every subcommand, a hidden ``--traceback``
click option; ``run_argparse`` runs an argparse program and adds a hidden ``--traceback`` flag.
Lives in its own top-level package because every entry point needs it, including the
container's init container (``app.fetch_model``); it depends on click and the standard library.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar

import click

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130

ErrorCodes = Mapping[type[BaseException], int]
Redact = Callable[[str], str]

_SHOW_TRACEBACK: ContextVar[bool] = ContextVar("cliexit_show_traceback", default=False)


def exit_code_for(exc: BaseException, codes: ErrorCodes) -> int | None:
    """The code of the first type in `codes` that `exc` is an instance of, else None."""
    for kind, code in codes.items():
        if isinstance(exc, kind):
            return code
    return None


# Connection-string keys and SAS signatures up to the next separator; a URL's user:password@.
_KEY_VALUE = re.compile(
    r"\b(AccountKey|SharedAccessKey|SharedAccessSignature|sig)=[^;&\s'\"]+", re.IGNORECASE
)
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """`text` without storage account keys, SAS signatures and credentials in URLs."""
    return _URL_USERINFO.sub(r"\1***@", _KEY_VALUE.sub(r"\1=***", text))


def inert(text: str) -> str:
    """`text` with every character a terminal would act on (escape sequences, carriage
    returns, bidi overrides, zero-width characters) shown as its escape (`\\x1b`, `\\u202e`);
    line breaks and tabs stay (some messages list their problems one a line)."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode() for c in text
    )


def _say(line: str, redact: Redact) -> None:
    """One line: messages quote servers' replies, so nothing in it reaches the terminal raw."""
    click.secho(inert(redact(line)), fg="red", err=True)


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

    def clean(text: str) -> str:
        return redact_secrets(redact(text) if redact else text)

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


def _accept_traceback_everywhere(command: click.Command) -> None:
    """Give every command of the tree the hidden ``--traceback`` flag (before or after a
    subcommand, wherever the hint's reader types it); run_click reads it."""
    if not any("--traceback" in getattr(param, "opts", ()) for param in command.params):
        command.params.append(
            click.Option(
                ["--traceback"],
                is_flag=True,
                hidden=True,
                is_eager=True,
                expose_value=False,
                callback=_remember_traceback,
                help="Show the stack of an unexpected error.",
            )
        )
    for sub in getattr(command, "commands", {}).values():
        _accept_traceback_everywhere(sub)


def run_click(
    command: click.Command,
    argv: Sequence[str] | None = None,
    *,
    prog_name: str,
    codes: ErrorCodes = {},  # noqa: B006 - read only
    redact: Redact | None = None,
) -> int:
    """Run a click command (and its hidden ``--traceback`` flag); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    _accept_traceback_everywhere(command)
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
