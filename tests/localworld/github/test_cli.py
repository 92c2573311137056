"""`python -m localworld.github`: the shared exit codes (cliexit) around the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from localworld.github import server
from localworld.github.cli import main


def test_bad_token_spec_is_one_line_and_exit_1(tmp_path: Path, capsys):
    assert main(["--root", str(tmp_path), "--port", "1", "--token", "no-repos"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: bad token spec 'no-repos'")
    assert err.count("\n") == 1


def test_missing_option_exits_2(tmp_path: Path, capsys):
    assert main(["--port", "1"]) == 2
    assert "Missing option '--root'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raised", "code", "last_line"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (OSError("address in use"), 3, "unexpected error: OSError: address in use"),
    ],
)
def test_ctrl_c_while_serving_exits_130_and_a_crash_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys, raised, code: int, last_line: str
):
    def serve(*_args: object, **_kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(server, "serve", serve)  # Ctrl-C cannot be typed into a test
    assert main(["--root", str(tmp_path), "--port", "1"]) == code
    assert capsys.readouterr().err.splitlines()[-1].startswith(last_line)
    assert main(["--traceback", "--root", str(tmp_path), "--port", "1"]) == code
    assert ("Traceback (most recent call last)" in capsys.readouterr().err) == (code == 3)
