"""The import contract of the functional core: `bot/core` imports the standard library and
itself, nothing else (no adapter, no ruamel, pydantic, requests, croniter, semantic_version).

Two independent checks: every import statement of every module (the AST, so an import inside a
function or under TYPE_CHECKING counts too), and a fresh interpreter that imports every core
module and then lists what ended up in `sys.modules` (catches `importlib` tricks).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CORE = REPO / "bot" / "core"


def _allowed(module: str) -> bool:
    top = module.partition(".")[0]
    return top in sys.stdlib_module_names or module == "bot.core" or module.startswith("bot.core.")


def foreign_imports(source: str, package: str = "bot.core") -> list[str]:
    """Modules imported by `source` that are neither the standard library nor `bot.core`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.append(node.module or "")
    return [module for module in found if not _allowed(module)]


def _core_modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def test_the_core_has_modules_to_check():
    names = {path.stem for path in _core_modules()}
    assert {"plan", "gates", "policy", "tags", "model", "cron", "semver"} <= names


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: p.name)
def test_core_module_imports_only_stdlib_and_the_core(path: Path):
    assert foreign_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import ruamel.yaml",
        "from ruamel.yaml import YAML",
        "from pydantic import BaseModel",
        "import requests",
        "from croniter import croniter",
        "import semantic_version",
        "from bot.adapters.github import GitHubForge",
        "from bot import policy",
        "import bot.policy",
        "from bot.errors import PolicyError",
        "from .. import runner",
        "from ..adapters import registry",
        "def f():\n    import git\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.policy import X\n",
    ],
)
def test_the_contract_refuses_foreign_imports(source: str):
    assert foreign_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import re, zoneinfo",
        "from collections.abc import Mapping",
        "from bot.core.model import State",
        "from bot.core import model",
        "from . import model",
        "from .model import State",
    ],
)
def test_the_contract_allows_stdlib_and_the_core(source: str):
    assert foreign_imports(source) == []


def test_importing_the_core_loads_no_third_party_module():
    names = [f"bot.core.{path.stem}" for path in _core_modules() if path.stem != "__init__"]
    script = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    # -S: no site-packages and no .pth hooks, so nothing third-party can load unless asked for
    out = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    # `_sysconfigdata_*` is the interpreter's generated build config (zoneinfo reads TZPATH)
    foreign = [
        m for m in loaded if not (_allowed(m) or m == "bot" or m.startswith("_sysconfigdata_"))
    ]
    assert foreign == []
    assert set(names) <= set(loaded)
