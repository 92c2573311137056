"""Session-scoped fixtures for the real local services, and an isolated HOME/git config.

Every service listens on 127.0.0.1 with a free port, keeps its data in a temp dir, is started
at most once per session (only if a test asks for it) and is stopped by PID at the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from localworld.services import Azurite, Registry, init_bare_repo, start_azurite, start_registry


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never read or write the real home directory or the user's git config."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Runner\n\temail = tests@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    saved = {k: os.environ.get(k) for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    for key in [k for k in os.environ if k.startswith("GIT_") and k not in saved]:
        os.environ.pop(key)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    root = tmp_path_factory.mktemp("azurite")
    service = start_azurite(root / "data", root / "logs")
    yield service
    service.process.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("registry")
    service = start_registry(root / "data", root / "logs")
    yield service
    service.process.stop()


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    """A fresh bare Git repository (per test) usable as `origin` by file path."""
    return init_bare_repo(tmp_path / "remote.git")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return stdout; raise with stderr on failure."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout
