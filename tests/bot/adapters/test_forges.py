"""The forge factory, and the seam it guards: only the wiring knows a forge adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.adapters.forges import make_forge
from bot.adapters.github import GitHubForge
from bot.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[3]
# Modules that must reach the forge through bot.forge only (the factory and wiring may not).
THROUGH_THE_PROTOCOL = [
    "bot/api.py",
    "bot/runner.py",
    "bot/world.py",
    "bot/release.py",
    "bot/nightly.py",
    "bot/render.py",
    "bot/pr_body.py",
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "bot" / "core").glob("*.py")),
]
SETTINGS = {"GITOPS_REMOTE": "/srv/gitops.git", "GITHUB_REPOSITORY": "team/gitops"}


def test_the_github_forge_is_built_from_the_settings():
    forge = make_forge(Settings.from_env({**SETTINGS, "GITHUB_TOKEN": "t0ken-github"}))
    assert isinstance(forge, GitHubForge)
    assert (forge.name, forge.repository) == ("GitHub", "team/gitops")


def test_a_forge_needs_its_token():
    with pytest.raises(SettingsError, match="GITHUB_TOKEN is not set"):
        make_forge(Settings.from_env(SETTINGS))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("module", THROUGH_THE_PROTOCOL)
def test_the_bot_reaches_the_forge_only_through_the_protocol(module: str):
    imported = _imports(REPO / module)
    forbidden = {
        name
        for name in imported
        if name.startswith(
            ("bot.adapters.github", "bot.adapters.azure_repos", "bot.adapters.forges", "github")
        )
    }
    assert not forbidden, f"{module} imports {sorted(forbidden)}"
