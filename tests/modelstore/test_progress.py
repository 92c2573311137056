"""Progress bars: only for a person at a terminal; never with --json, --quiet or a pipe."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from modelstore.cli import main
from modelstore.progress import wants_bars

BAR = "━"  # rich's bar glyph


@pytest.mark.parametrize(
    ("as_json", "quiet", "stdout_tty", "stderr_tty", "bars"),
    [
        (False, False, True, True, True),
        (True, False, True, True, False),
        (False, True, True, True, False),
        (False, False, False, True, False),  # stdout piped: `modelstore download ... | tee`
        (False, False, True, False, False),  # stderr redirected to a log
    ],
)
def test_bars_only_for_a_terminal_without_json_or_quiet(
    as_json: bool, quiet: bool, stdout_tty: bool, stderr_tty: bool, bars: bool
) -> None:
    assert (
        wants_bars(as_json=as_json, quiet=quiet, stdout_tty=stdout_tty, stderr_tty=stderr_tty)
        == bars
    )


@pytest.fixture
def env(azurite: Any, container: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "MODELSTORE_CONTAINER": container,
        "MODELSTORE_AUTHOR": "cli-tester",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    return values


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024))
    return path


def test_no_bars_when_not_a_terminal_nor_in_json(
    env: dict[str, str], weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["register", "big", str(weights)]) == 0
    out, err = capsys.readouterr()
    assert out == "1\n"
    assert BAR not in err
    assert "\x1b" not in err
    assert main(["download", "big", "1", str(tmp_path / "d"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["version"] == 1
    assert err == ""
    assert main(["verify", "big", "1"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("big v1: 1 file(s) verified\n", "")


def _in_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; what the terminal showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelstore", *argv],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def test_bars_on_a_terminal_and_none_with_json(
    env: dict[str, str], weights: Path, tmp_path: Path
) -> None:
    code, shown = _in_a_terminal(["register", "big", str(weights)])
    assert code == 0, shown
    assert BAR in shown
    assert "weights.bin" in shown
    assert "MB" in shown  # bytes done / total
    code, shown = _in_a_terminal(["download", "big", "1", str(tmp_path / "d"), "--json"])
    assert code == 0, shown
    assert BAR not in shown
    assert json.loads(shown)["version"] == 1
