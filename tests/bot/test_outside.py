"""What moving a release ref ships besides the pins, on the shipped deploy tree in real git:
the files an overlay pulls in, and which commits changed them other than by the pins."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.adapters.git import GitRepo
from bot.kustomize import read_pins, read_pins_text, set_pins
from bot.outside import Changes, closure, legacy_release, read_own
from bot.overlay.changes import LiteralSet
from bot.policy import load_policy
from tests.conftest import git

PROJECT = Path(__file__).resolve().parents[2]
STAGING = "deploy/overlays/staging/kustomization.yaml"


def _commit(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").strip()


def _shipped(work: Path) -> None:
    """A new repository at `work` holding the shipped deploy/ tree and promotion.yaml."""
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shutil.copytree(PROJECT / "deploy", work / "deploy")
    shutil.copy(PROJECT / "promotion.yaml", work / "promotion.yaml")


def _two_releases(work: Path) -> tuple[str, str]:
    """The shipped tree at `work` (commit `old`), then staging promoted (commit `newer`)."""
    _shipped(work)
    old = _commit(work, "seed")
    set_pins(work / STAGING, literals=[LiteralSet("model-pin", "MODEL_VERSION", "2")])
    return old, _commit(work, "promote staging")


def _edit(work: Path, path: str, old: str, new: str) -> None:
    file = work / path
    text = file.read_text()
    assert old in text, (path, old)
    file.write_text(text.replace(old, new, 1))


def test_only_what_the_overlay_pulls_in_and_not_its_pins_is_a_change_outside_them(
    tmp_path: Path,
):
    work = tmp_path / "repo"
    _shipped(work)
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


def test_a_first_release_looks_only_at_the_newest_legacy_release_with_the_same_pins(
    tmp_path: Path, bare_remote: Path
):
    """The single `release` branch's newest tag (`release-YYYYMMDD[-N]`, not a per-environment
    one) is the commit the cluster ran; other pins there, or a commit not on main, adopt
    nothing (before any status is read)."""
    work = tmp_path / "work"
    old, newer = _two_releases(work)
    git(work, "checkout", "-q", "-b", "side", old)
    (work / "side.txt").write_text("not on main\n")
    side = _commit(work, "a commit main never had")
    git(work, "checkout", "-q", "main")
    git(work, "remote", "add", "origin", str(bare_remote))
    git(work, "push", "-q", "origin", "main", "side")
    for tag, sha in (
        ("release-20261120", old),
        ("release-20261121", old),
        ("release-20261121-2", newer),
        ("release-staging-20261122", old),  # a per-environment tag: not the legacy branch's
    ):
        git(work, "tag", "-a", tag, "-m", "Nightly release", sha)
    git(work, "push", "-q", "origin", "--tags")
    repo = GitRepo.clone(str(bare_remote), tmp_path / "bot")
    assert legacy_release(repo) == newer

    policy = load_policy(work / "promotion.yaml")
    staging = policy.environment("staging")
    on_newer = read_pins(work / STAGING, policy.image_name, policy.model_pin)
    main = git(work, "rev-parse", "main").strip()
    other_pins = (on_newer.image, None)
    assert read_own(repo, None, policy, staging, other_pins, main=main) is None  # type: ignore[arg-type]

    git(work, "tag", "-a", "release-20261123", "-m", "Nightly release", side)
    git(work, "push", "-q", "origin", "release-20261123")
    assert legacy_release(repo) == side
    text = git(work, "show", f"{side}:{STAGING}")
    on_side = read_pins_text(text, policy.image_name, policy.model_pin)
    pins = (on_side.image, on_side.model)  # the very pins there, but never on main
    assert read_own(repo, None, policy, staging, pins, main=main) is None  # type: ignore[arg-type]


def test_a_legacy_tag_behind_the_releases_before_it_adopts_nothing(
    tmp_path: Path, bare_remote: Path
):
    """The single `release` branch only fast-forwarded, so its newest release contains every
    earlier one. A newest-named tag on an older commit (pushed by hand, say `release-20991231`)
    is not what the cluster runs now: nothing is adopted (before any status is read)."""
    work = tmp_path / "work"
    old, newer = _two_releases(work)
    git(work, "remote", "add", "origin", str(bare_remote))
    git(work, "push", "-q", "origin", "main")
    for tag, sha in (
        ("release-20261120", old),
        ("release-20261121", newer),  # what the cluster last applied
        ("release-20991231", old),  # a tag named newest, on an older release
    ):
        git(work, "tag", "-a", tag, "-m", "Nightly release", sha)
    git(work, "push", "-q", "origin", "--tags")
    repo = GitRepo.clone(str(bare_remote), tmp_path / "bot")
    policy = load_policy(work / "promotion.yaml")
    staging = policy.environment("staging")
    on_old = read_pins_text(git(work, "show", f"{old}:{STAGING}"), policy.image_name, "model-pin")
    pins = (on_old.image, on_old.model)
    assert read_own(repo, None, policy, staging, pins, main=newer) is None  # type: ignore[arg-type]
