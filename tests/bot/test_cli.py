"""The CLI edge: `promotion-bot set` and the exit codes of the one error handler."""

from __future__ import annotations

import gc
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot import cli as cli_module
from bot.cli import cli, main
from bot.errors import BotError, PolicyError
from bot.settings import SettingsError

ORIGINAL = Path(__file__).parent / "testdata" / "comments_everywhere" / "original"
D = "sha256:" + "c" * 64


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    path = tmp_path / "kustomization.yaml"
    path.write_bytes((ORIGINAL / "kustomization.yaml").read_bytes())
    return path


def test_set_pins_image_and_literal_and_reports_changes(overlay: Path, capsys):
    before = overlay.read_text()
    code = main(
        [
            "set",
            str(overlay),
            "--image",
            f"modelops-app=127.0.0.1:5000/modelops-app:0.1.0-50-abcdef0@{D}",
            "--literal",
            "model-pin:MODEL_VERSION=9",
        ]
    )
    assert code == 0
    after = overlay.read_text()
    assert 'newTag: "0.1.0-50-abcdef0"   # bumped by the bot' in after
    assert f"digest: {D}   # exact bytes" in after
    assert "newName: 127.0.0.1:5000/modelops-app  # ACR" in after
    assert "- MODEL_VERSION=9          # version" in after
    assert len(before.splitlines()) == len(after.splitlines())
    out = capsys.readouterr().out
    assert "images[modelops-app].newTag: 0.1.0-42-abc1234 -> 0.1.0-50-abcdef0" in out
    assert "configMapGenerator[model-pin].MODEL_VERSION: 3 -> 9" in out


def test_set_twice_reports_nothing_changed(overlay: Path, capsys):
    assert main(["set", str(overlay), "--literal", "model-pin:MODEL_VERSION=9"]) == 0
    assert main(["set", str(overlay), "--literal", "model-pin:MODEL_VERSION=9"]) == 0
    assert "already pinned as asked" in capsys.readouterr().out


def test_domain_error_exits_1_with_one_line(overlay: Path, capsys):
    assert main(["set", str(overlay), "--image", "nope:1.0"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: {overlay}: no images entry named 'nope' (entries: modelops-app)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["set"],
        ["set", "k.yaml"],
        ["set", "k.yaml", "--image", "app"],
        ["set", "k.yaml", "--literal", "nope"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys):
    assert main(args) == 2
    assert capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "set" in capsys.readouterr().out


def test_unexpected_error_exits_3_and_traceback_is_opt_in(monkeypatch, overlay: Path, capsys):
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli_module, "set_pins", boom)
    assert main(["set", str(overlay), "--image", "modelops-app:1"]) == 3
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: disk on fire (rerun with --traceback)" in err
    assert "Traceback" not in err
    assert main(["--traceback", "set", str(overlay), "--image", "modelops-app:1"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_exits_130(monkeypatch, overlay: Path):
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "set_pins", interrupted)
    assert main(["set", str(overlay), "--image", "modelops-app:1"]) == 130


def test_bot_error_subclasses_map_to_1(monkeypatch, overlay: Path):
    def domain(*args: object, **kwargs: object) -> None:
        raise BotError("gate failed")

    monkeypatch.setattr(cli_module, "set_pins", domain)
    assert main(["set", str(overlay), "--image", "modelops-app:1"]) == 1


@pytest.mark.parametrize(
    "error", [PolicyError("promotion.yaml: bad"), SettingsError("GITOPS_REMOTE is not set")]
)
def test_configuration_errors_exit_2_with_one_line(monkeypatch, overlay: Path, capsys, error):
    def misconfigured(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(cli_module, "set_pins", misconfigured)
    assert main(["set", str(overlay), "--image", "modelops-app:1"]) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_group_accepts_new_commands():
    assert "set" in cli.commands


def test_python_dash_m_runs_the_cli(overlay: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "set", str(overlay), "--image", "missing:1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no images entry named 'missing'" in result.stderr


def test_the_command_imports_the_cli_with_the_collector_off_then_freezes_what_it_made(
    monkeypatch: pytest.MonkeyPatch,
):
    """`promotion-bot` (`bot.__main__:main`): the CLI runs with the collector on again and
    the import's objects frozen."""
    import bot.__main__ as entry

    seen: list[tuple[bool, int]] = []

    def cli_main() -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return 7

    monkeypatch.setattr(cli_module, "main", cli_main)
    gc.unfreeze()
    try:
        assert entry.main() == 7
    finally:
        gc.unfreeze()
    assert len(seen) == 1
    assert seen[0][0] is True
    assert seen[0][1] > 0


def test_the_cli_imports_nothing_a_no_op_run_never_uses():
    """numpy (evaluating a model), GitPython (cloning), jsonschema (validating overlays):
    each imported where it is used, not by every new process (issue 20.6)."""
    code = "import sys, bot.cli; print(sorted({'numpy', 'git', 'jsonschema'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_installed_command_is_the_entry_with_the_collector_off():
    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["promotion-bot"] == "bot.__main__:main"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--image", "modelops-app:1", "--image", "modelops-app:2"],
            "image spec 'modelops-app:2' repeats image 'modelops-app' "
            "(already given by 'modelops-app:1'): give each image once",
        ),
        (
            ["--image", "modelops-app:1", "--image", f"modelops-app@{D}"],
            f"image spec 'modelops-app@{D}' repeats image 'modelops-app'",
        ),
        (
            ["--literal", "model-pin:MODEL_VERSION=3", "--literal", "model-pin:MODEL_VERSION=4"],
            "literal spec 'model-pin:MODEL_VERSION=4' repeats model-pin:MODEL_VERSION "
            "(already given by 'model-pin:MODEL_VERSION=3'): give each literal once",
        ),
        (
            ["--literal", "model-pin:NEW=1", "--literal", "model-pin:NEW=1"],
            "literal spec 'model-pin:NEW=1' repeats model-pin:NEW",
        ),
    ],
)
def test_set_refuses_a_repeated_spec_as_usage_error_before_touching_the_file(
    overlay: Path, capsys, args: list[str], message: str
):
    before = overlay.read_bytes()
    assert main(["set", str(overlay), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1
    assert overlay.read_bytes() == before


def test_set_accepts_the_same_key_in_two_generators(tmp_path: Path, capsys):
    path = tmp_path / "kustomization.yaml"
    path.write_text(
        "configMapGenerator:\n- name: a\n  literals: [K=1]\n- name: b\n  literals: [K=1]\n"
    )
    assert main(["set", str(path), "--literal", "a:K=2", "--literal", "b:K=3"]) == 0
    assert path.read_text().splitlines()[2:5:2] == ["  literals: [K=2]", "  literals: [K=3]"]
