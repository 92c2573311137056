"""The shared exit codes: 0, 1 and 2 as mapped, 2 for usage, 3 unexpected, 130 Ctrl-C."""

from __future__ import annotations

import argparse
import os
import pty
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cliexit import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    ErrorCodes,
    exit_code_for,
    redact_secrets,
    run_argparse,
    run_click,
)

ROOT = Path(__file__).resolve().parents[2]


class DomainError(Exception):
    pass


class BadSettingError(DomainError):
    pass


CODES: ErrorCodes = {BadSettingError: EXIT_USAGE, DomainError: EXIT_ERROR}
RAISED: dict[str, BaseException] = {
    "domain": DomainError("the thing is not there"),
    "setting": BadSettingError("SETTING is not set"),
    "crash": RuntimeError("disk on fire"),
    "ctrl-c": KeyboardInterrupt(),
    "exit-4": SystemExit(4),
    # a message quoting a server's reply (an Azure DevOps `message`, a registry's error text)
    "hostile": DomainError("no \x1b[2J\x1b]0;pwned\x07 such repo\u202e\nerror: all good"),
}


@click.group()
def tool() -> None:
    """A tool whose `do WHAT` raises what it is told to."""


@tool.command()
@click.argument("what", type=click.Choice(["ok", *RAISED]))
def do(what: str) -> None:
    if what != "ok":
        raise RAISED[what]
    click.echo("done")


def run_tool(*args: str) -> int:
    return run_click(tool, list(args), prog_name="tool", codes=CODES)


def argparse_body(args: argparse.Namespace) -> int:
    if args.what != "ok":
        raise RAISED[args.what]
    print("done")
    return EXIT_OK


def run_script(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="script")
    parser.add_argument("what", choices=["ok", *RAISED])
    return run_argparse(parser, list(args), argparse_body, tag="script", codes=CODES)


@pytest.mark.parametrize(
    ("what", "code", "click_line", "script_line"),
    [
        ("domain", EXIT_ERROR, "error: the thing is not there", "script: the thing is not there"),
        ("setting", EXIT_USAGE, "error: SETTING is not set", "script: SETTING is not set"),
        (
            "crash",
            EXIT_UNEXPECTED,
            "unexpected error: RuntimeError: disk on fire (rerun with --traceback)",
            "script: unexpected error: RuntimeError: disk on fire (rerun with --traceback)",
        ),
        ("ctrl-c", EXIT_INTERRUPTED, "interrupted", "script: interrupted"),
    ],
)
def test_each_outcome_is_one_line_and_its_code(
    capsys: pytest.CaptureFixture[str], what: str, code: int, click_line: str, script_line: str
) -> None:
    assert run_tool("do", what) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1:] == [click_line]
    assert "Traceback" not in err
    assert run_script(what) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", script_line + "\n")


def test_success_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool("do", "ok") == EXIT_OK
    assert run_script("ok") == EXIT_OK
    assert capsys.readouterr() == ("done\ndone\n", "")


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool("do", "nonsense") == EXIT_USAGE
    assert "'nonsense' is not one of" in capsys.readouterr().err
    assert run_tool("frobnicate") == EXIT_USAGE
    assert run_script("nonsense") == EXIT_USAGE
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err
    assert run_tool("--help") == EXIT_OK
    assert run_script("--help") == EXIT_OK
    out = capsys.readouterr().out
    assert "do" in out
    assert "--traceback" not in out  # hidden: for debugging only


def test_a_system_exit_keeps_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool("do", "exit-4") == 4
    assert run_script("exit-4") == 4
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("runner", ["click", "argparse"])
def test_traceback_flag_prints_the_stack_of_an_unexpected_error(
    capsys: pytest.CaptureFixture[str], runner: str
) -> None:
    code = (
        run_tool("--traceback", "do", "crash")
        if runner == "click"
        else run_script("--traceback", "crash")
    )
    assert code == EXIT_UNEXPECTED
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: disk on fire" in err
    assert "rerun with --traceback" not in err
    # the flag is a flag of that run only
    assert run_tool("do", "crash") == EXIT_UNEXPECTED
    assert "Traceback" not in capsys.readouterr().err


def test_traceback_flag_may_follow_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool("do", "crash", "--traceback") == EXIT_UNEXPECTED
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert run_tool("do", "ok", "--traceback") == EXIT_OK


def test_traceback_flag_does_not_change_mapped_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool("--traceback", "do", "domain") == EXIT_ERROR
    assert capsys.readouterr().err == "error: the thing is not there\n"


def test_the_first_matching_type_wins() -> None:
    assert exit_code_for(BadSettingError(), CODES) == EXIT_USAGE
    assert exit_code_for(BadSettingError(), {DomainError: 1, BadSettingError: 2}) == 1
    assert exit_code_for(ValueError(), CODES) is None


def test_redact_applies_to_every_line_and_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "AccountKey=hunter2"

    def body(_args: argparse.Namespace) -> int:
        raise DomainError(f"cannot reach {secret}")

    def hide(text: str) -> str:
        return text.replace(secret, "AccountKey=***")

    parser = argparse.ArgumentParser(prog="script")
    assert run_argparse(parser, [], body, codes=CODES, redact=hide) == EXIT_ERROR
    assert capsys.readouterr().err == "error: cannot reach AccountKey=***\n"
    parser = argparse.ArgumentParser(prog="script")
    assert run_argparse(parser, ["--traceback"], body, redact=hide) == EXIT_UNEXPECTED
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Eby8v/K1S==;BlobEndpoint=x",
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=***;BlobEndpoint=x",
        ),
        (
            "GET https://acct.blob.core.windows.net/c?sv=2024&sig=abc%2Bdef&se=1 failed",
            "GET https://acct.blob.core.windows.net/c?sv=2024&sig=***&se=1 failed",
        ),
        ("Endpoint=sb://x/;SharedAccessKey=k3y", "Endpoint=sb://x/;SharedAccessKey=***"),
        (
            "cannot clone https://bot:ghp_t0ken@github.example/x.git",
            "cannot clone https://***@github.example/x.git",
        ),
        ("model 'digits' v3: signature mismatch", "model 'digits' v3: signature mismatch"),
    ],
)
def test_secrets_never_reach_an_error_line(text: str, shown: str) -> None:
    assert redact_secrets(text) == shown


def test_an_unexpected_error_quoting_a_connection_string_hides_the_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def body(_args: argparse.Namespace) -> int:
        raise ValueError("bad connection string 'AccountName=dev;AccountKey=s3cr3t=='")

    for argv in ([], ["--traceback"]):
        parser = argparse.ArgumentParser(prog="script")
        assert run_argparse(parser, argv, body) == EXIT_UNEXPECTED
        err = capsys.readouterr().err
        assert "AccountKey=***" in err
        assert "s3cr3t" not in err


def test_an_error_line_is_red_on_a_terminal_only(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "from tests.cliexit.test_cliexit import run_tool\n"
        "sys.exit(run_tool('do', 'domain'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    plain = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (plain.returncode, plain.stderr) == (EXIT_ERROR, "error: the thing is not there\n")
    controller, terminal = pty.openpty()
    try:
        with os.fdopen(terminal, "wb") as stderr:
            on_tty = subprocess.run(
                [sys.executable, "-c", program],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                timeout=60,
                check=False,
            )
        shown = os.read(controller, 4096).decode()
    finally:
        os.close(controller)
    assert on_tty.returncode == EXIT_ERROR
    assert "\x1b[31merror: the thing is not there\x1b[0m" in shown


def test_an_error_line_quoting_outside_text_stays_one_inert_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Escape sequences (clear screen, set the title) and bidi overrides in a message are
    shown escaped: the operator's terminal is not rewritten (line breaks stay: some messages
    list their problems one a line)."""
    assert run_tool("do", "hostile") == EXIT_ERROR
    _, err = capsys.readouterr()
    assert err == "error: no \\x1b[2J\\x1b]0;pwned\\x07 such repo\\u202e\nerror: all good\n"
