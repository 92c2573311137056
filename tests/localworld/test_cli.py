"""`localworld up` then `down` leaves no process behind and writes a readable env file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.adapters.forges import make_forge
from bot.settings import Settings
from localworld import cli as cli_module
from localworld.cli import main
from localworld.process import pid_alive
from localworld.world import read_env


@pytest.mark.parametrize("forge", ["github", "azure-repos"])
def test_up_writes_env_and_down_stops_every_pid(tmp_path: Path, forge: str):
    root = tmp_path / "lw"
    assert main(["up", "--dir", str(root), "--forge", forge]) == 0
    env = read_env(root)
    assert env["REGISTRY_HOST"].startswith("127.0.0.1:")
    assert "BlobEndpoint=http://127.0.0.1:" in env["AZURE_STORAGE_CONNECTION_STRING"]
    # the bot reaches the forge with nothing but the env file's settings
    forge_api = make_forge(Settings.from_env(env))
    assert forge_api.name == {"github": "GitHub", "azure-repos": "Azure Repos"}[forge]
    if forge == "azure-repos":
        assert forge_api.open_prs("main") == {}
        assert (Path(env["GITOPS_REMOTE"]) / "HEAD").is_file()
    pids = [info["pid"] for info in json.loads((root / "pids.json").read_text()).values()]
    assert len(pids) >= 2
    assert all(pid_alive(pid) for pid in pids)

    assert main(["up", "--dir", str(root)]) == 1  # refuses to start twice
    assert main(["down", "--dir", str(root)]) == 0
    assert not any(pid_alive(pid) for pid in pids)
    assert not (root / "env").exists()


def test_env_without_services_is_a_clear_error(tmp_path: Path, capsys):
    assert main(["env", "--dir", str(tmp_path)]) == 1
    assert "run `make services-up` first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("boom"), 3, "unexpected error: RuntimeError: boom (rerun with --traceback)"),
    ],
)
def test_shared_exit_codes_for_ctrl_c_and_crashes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys, raised, code: int, line: str
):
    def crash(_root: Path) -> None:
        raise raised

    monkeypatch.setattr(cli_module, "running", crash)  # a crash cannot be provoked for real
    assert main(["status", "--dir", str(tmp_path)]) == code
    assert capsys.readouterr().err.splitlines()[-1] == line


def test_usage_error_exits_2_and_traceback_is_a_real_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
):
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err

    def crash(_root: Path) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_module, "running", crash)
    assert main(["--traceback", "status", "--dir", str(tmp_path)]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err
