"""What moving a release ref ships besides the pins, on the shipped deploy tree in real git:
the files an overlay pulls in, and which commits changed them other than by the pins."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.adapters.git import GitRepo
from bot.kustomize import set_pins
from bot.outside import Changes, closure
from bot.overlay.changes import LiteralSet
from bot.policy import load_policy
from tests.conftest import git

PROJECT = Path(__file__).resolve().parents[2]
STAGING = "deploy/overlays/staging/kustomization.yaml"


def _commit(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").strip()


def _edit(work: Path, path: str, old: str, new: str) -> None:
    file = work / path
    text = file.read_text()
    assert old in text, (path, old)
    file.write_text(text.replace(old, new, 1))


def test_only_what_the_overlay_pulls_in_and_not_its_pins_is_a_change_outside_them(
    tmp_path: Path,
):
    work = tmp_path / "repo"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shutil.copytree(PROJECT / "deploy", work / "deploy")
    shutil.copy(PROJECT / "promotion.yaml", work / "promotion.yaml")
    released = _commit(work, "seed")
    repo = GitRepo(work)
    policy = load_policy(work / "promotion.yaml")

    paths = closure(repo, "HEAD", STAGING)
    assert paths == ("deploy/base", "deploy/overlays/staging")

    set_pins(  # a promotion: pins only
        work / STAGING, literals=[LiteralSet("model-pin", "MODEL_VERSION", "2")]
    )
    _commit(work, "promote staging")
    (work / "deploy" / "overlays" / "dev" / "extra.yaml").write_text("kind: ConfigMap\n")
    _commit(work, "dev only")
    (work / "deploy" / "README.md").write_text("docs\n")
    _commit(work, "docs only")
    _edit(work, STAGING, "# Environment: staging.", "# Environment: staging (a comment).")
    _commit(work, "a comment in staging's overlay")
    _edit(work, "deploy/base/deployment.yaml", "kind: Deployment", "kind: Deployment  # base")
    base = _commit(work, "base: a change every environment renders")
    _edit(work, STAGING, "value: modelops-app-staging", "value: modelops-app-stg")
    patch = _commit(work, "staging: a patch")
    (work / "deploy" / "overlays" / "staging" / "sizing.yaml").write_text(
        (work / "deploy" / "overlays" / "staging" / "sizing.yaml").read_text() + "# more\n"
    )
    sizing = _commit(work, "staging: sizing")

    changes = Changes(repo, policy, policy.environment("staging"))
    assert changes.between("HEAD", [released], paths) == [sizing, patch, base]
    assert changes.between("HEAD", [base], paths) == [sizing, patch]
    assert changes.between(base, [released], paths) == [base]
    assert changes.between("HEAD", ["HEAD"], paths) == []
