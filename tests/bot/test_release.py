"""Nightly release: pure decision table, and the real fast-forward on a bare remote."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.git import GitError, GitRepo
from bot.forge import Issue
from bot.lock import LockError
from bot.release import (
    ISSUE_LABEL,
    ISSUE_MARKER,
    ISSUE_TITLE,
    MAX_LISTED_PROBLEMS,
    ReleaseAction,
    ReleaseDecision,
    ReleaseProblem,
    decide_issue,
    decide_release,
    is_release_tag,
    next_release_tag,
    read_fingerprint,
    render_issue_body,
    run_release,
)
from bot.release_status import Posted, unvouched
from tests.conftest import git, seed_remote

TODAY = date(2026, 11, 25)
ENVS = ("dev",)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "release-20261125"),
        (["release-20261124"], "release-20261125"),
        (["release-20261125"], "release-20261125-2"),
        (["release-20261125", "release-20261125-2"], "release-20261125-3"),
        (["release-20261125-7", "release-20261125"], "release-20261125-8"),
        (["release-20261125-x", "other"], "release-20261125"),
    ],
)
def test_next_release_tag_picks_the_next_free_suffix(existing, expected):
    assert next_release_tag(existing, TODAY) == expected


def test_each_environment_has_its_own_release_tags():
    assert next_release_tag(["release-dev-20261125"], TODAY, "dev") == "release-dev-20261125-2"
    assert next_release_tag(["release-dev-20261125"], TODAY, "prod") == "release-prod-20261125"


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [
        ("release-dev-20261125", "dev", True),
        ("release-dev-20261125-3", "dev", True),
        ("release-dev-eu-20261125", "dev", False),  # another environment's
        ("release-20261125", "dev", False),  # the legacy single branch's
        ("release-dev-latest", "dev", False),
    ],
)
def test_a_release_tag_is_one_the_release_makes_for_that_environment(name, env, expected):
    assert is_release_tag(name, env) is expected


@pytest.mark.parametrize(
    ("on_main", "tagged", "why"),
    [(False, True, "is not on main"), (True, False, "carries no release tag of dev")],
)
def test_the_status_repair_refuses_a_tip_the_release_did_not_move_there(on_main, tagged, why):
    refused = unvouched("dev", "a" * 40, on_main=on_main, tagged=tagged)
    assert refused is not None and refused.outcome is Posted.REFUSED
    assert f"release/dev's tip {why}" in refused.message
    assert unvouched("dev", "a" * 40, on_main=True, tagged=True) is None


def _decide(**kw: Any) -> ReleaseDecision:
    base: dict[str, Any] = {
        "main_sha": "b" * 40,
        "release_sha": "a" * 40,
        "main_descends_from_release": True,
        "problems": (),
        "existing_tags": (),
        "today": TODAY,
    }
    base.update(kw)
    return decide_release(**base)


def test_release_already_at_main_is_a_noop_even_with_problems():
    decision = _decide(release_sha="b" * 40, problems=[ReleaseProblem("x", "broken")])
    assert decision.action == "noop"


def test_problems_block_the_release_and_are_reported():
    problem = ReleaseProblem("deploy/overlays/prod/kustomization.yaml", "digest not in registry")
    decision = _decide(problems=[problem])
    assert decision.action == "blocked"
    assert decision.problems == (problem,)
    assert decision.tag is None


def test_a_rewritten_history_blocks_the_release():
    decision = _decide(main_descends_from_release=False)
    assert decision.action == "blocked"
    assert "not an ancestor" in decision.reason


def test_first_release_creates_branch_and_tag():
    decision = _decide(release_sha=None, main_descends_from_release=False)
    assert decision.action == "release"
    assert decision.tag == "release-dev-20261125"
    assert decision.ref == "release/dev"


def test_an_environment_that_may_not_move_waits_without_blocking():
    decision = _decide(wait="staging is frozen: window 'weekend' open until …", env="staging")
    assert (decision.action, decision.ref, decision.tag) == ("wait", "release/staging", None)
    assert "frozen" in decision.reason


def _seeded(tmp_path: Path, bare: Path) -> GitRepo:
    seed_remote(tmp_path / "seed", bare, {"a.txt": "1\n"}, "one")
    return GitRepo.clone(str(bare), tmp_path / "bot")


def test_run_release_moves_release_tags_it_and_is_idempotent(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    first = run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert first.action == "release"
    main_sha = git(bare_remote, "rev-parse", "main").strip()
    assert git(bare_remote, "rev-parse", "release/dev").strip() == main_sha
    assert git(bare_remote, "rev-parse", "release-dev-20261125^{commit}").strip() == main_sha
    refs_before = git(bare_remote, "for-each-ref")

    again = run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert again.action == "noop"
    assert git(bare_remote, "for-each-ref") == refs_before


def test_run_release_with_failing_check_does_not_move_release(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    run_release(repo, checks=[], today=TODAY, envs=ENVS)
    released = git(bare_remote, "rev-parse", "release/dev").strip()
    seed = tmp_path / "seed"
    (seed / "a.txt").write_text("2\n")
    git(seed, "commit", "-q", "-am", "two")
    git(seed, "push", "-q", "origin", "main")

    def failing(_repo: GitRepo) -> list[ReleaseProblem]:
        return [ReleaseProblem("deploy/overlays/dev/kustomization.yaml", "model v9 missing")]

    decision = run_release(repo, checks=[failing], today=TODAY, envs=ENVS)
    assert decision.action == "blocked"
    assert "model v9 missing" in str(decision.problems[0])
    assert git(bare_remote, "rev-parse", "release/dev").strip() == released

    second = run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert second.action == "release"
    assert second.tag == "release-dev-20261125-2"


def _commit_main(seed: Path, text: str) -> str:
    (seed / "a.txt").write_text(text)
    git(seed, "commit", "-q", "-am", text.strip())
    git(seed, "push", "-q", "origin", "main")
    return git(seed, "rev-parse", "HEAD").strip()


def _refuse_tags(bare: Path) -> Path:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read o n r; do case $r in refs/tags/*) echo 'tags refused'; exit 1;; "
        "esac; done\nexit 0\n"
    )
    hook.chmod(0o755)
    return hook


def test_a_refused_tag_leaves_release_unmoved_and_the_next_run_tags_it(
    tmp_path: Path, bare_remote: Path
):
    repo = _seeded(tmp_path, bare_remote)
    assert run_release(repo, checks=[], today=TODAY, envs=ENVS).action == "release"
    released = git(bare_remote, "rev-parse", "release/dev").strip()
    seed = tmp_path / "seed"
    _commit_main(seed, "2\n")

    hook = _refuse_tags(bare_remote)
    with pytest.raises(GitError, match="tags refused"):
        run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert git(bare_remote, "rev-parse", "release/dev").strip() == released  # neither ref nor tag
    assert "release-dev-20261125-2" not in git(bare_remote, "tag")

    main_sha = _commit_main(seed, "3\n")  # main moves on: the stale local tag must not collide
    hook.unlink()
    decision = run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert (decision.action, decision.tag) == ("release", "release-dev-20261125-2")
    assert git(bare_remote, "rev-parse", "release/dev").strip() == main_sha
    assert git(bare_remote, "rev-parse", "release-dev-20261125-2^{commit}").strip() == main_sha

    refs = git(bare_remote, "for-each-ref")
    assert run_release(repo, checks=[], today=TODAY, envs=ENVS).action == "noop"
    assert git(bare_remote, "for-each-ref") == refs


def test_a_release_branch_pushed_to_main_by_hand_is_blocked_not_tagged(
    tmp_path: Path, bare_remote: Path
):
    repo = _seeded(tmp_path, bare_remote)
    main_sha = git(bare_remote, "rev-parse", "main").strip()
    git(bare_remote, "branch", "release/dev", main_sha)  # pushed by hand: no release tag
    refs = git(bare_remote, "for-each-ref")

    decision = run_release(repo, checks=[], today=TODAY, envs=ENVS)
    assert (decision.action, decision.tag) == ("blocked", None)
    assert "moved by hand" in decision.reason
    [problem] = decision.problems
    assert problem.where == "refs/heads/release/dev"
    assert "release-dev-*" in problem.message
    assert git(bare_remote, "for-each-ref") == refs  # no tag: the release vouches for nothing

    git(bare_remote, "tag", "release-dev-20261125", main_sha)  # a person vouches for it
    assert run_release(repo, checks=[], today=TODAY, envs=ENVS).action == "noop"


# --------------------------------------------------------------------------- the forge issue

PROD = "deploy/overlays/prod/kustomization.yaml"
MAIN = "c" * 40


def _blocked(*problems: ReleaseProblem) -> ReleaseDecision:
    return _decide(main_sha=MAIN, problems=list(problems))


def _open(body: str, number: int = 7) -> Issue:
    return Issue(number, ISSUE_TITLE, body, "open", (ISSUE_LABEL,), f"http://gh/i/{number}")


def test_a_first_block_opens_an_issue_listing_file_field_sha_and_how_to_rerun():
    decision = _blocked(
        ReleaseProblem(PROD, "image modelops-app@sha256:eee…: manifest not found"),
        ReleaseProblem("deploy/overlays/dev/kustomization.yaml", "images[0].digest: malformed"),
    )
    action = decide_issue(decision, None)
    assert action.kind == "create"
    assert action.body is not None
    assert action.body.startswith(ISSUE_MARKER)
    # as inert Markdown: the `@` of a digest reference cannot become a mention
    assert f"- `{PROD}`: image modelops-app@&#8203;sha256:eee…: manifest not found" in action.body
    assert "`deploy/overlays/dev/kustomization.yaml`: images[0].digest: malformed" in action.body
    assert MAIN in action.body
    assert "## What failed (2)" in action.body
    assert "Re-run `promotion-bot release`" in action.body


def test_the_same_problems_in_any_order_need_no_write():
    a, b = ReleaseProblem(PROD, "x"), ReleaseProblem("dev", "y")
    existing = _open(render_issue_body(_blocked(a, b)))
    action = decide_issue(_blocked(b, a), existing)
    assert (action.kind, action.number) == ("none", 7)


def test_changed_problems_rewrite_the_open_issue():
    existing = _open(render_issue_body(_blocked(ReleaseProblem(PROD, "x"))))
    action = decide_issue(_blocked(ReleaseProblem(PROD, "y")), existing)
    assert (action.kind, action.number) == ("update", 7)
    assert action.body is not None
    assert "`: y" in action.body


def test_an_issue_body_edited_by_hand_is_rewritten():
    action = decide_issue(_blocked(ReleaseProblem(PROD, "x")), _open(f"{ISSUE_MARKER} -->\nhi"))
    assert action.kind == "update"


def test_a_block_without_listed_problems_reports_its_reason():
    decision = ReleaseDecision(ReleaseAction.BLOCKED, "origin has no main branch")
    action = decide_issue(decision, None)
    assert action.body is not None
    assert "- `main`: origin has no main branch" in action.body
    assert "not found on origin" in action.body


def test_a_release_closes_the_open_issue_naming_the_tag():
    decision = _decide(main_sha=MAIN)
    action = decide_issue(decision, _open("anything"))
    assert (action.kind, action.number) == ("close", 7)
    assert action.comment is not None
    assert "`release-dev-20261125`" in action.comment


def test_release_already_at_main_closes_a_leftover_issue_and_otherwise_does_nothing():
    noop = _decide(release_sha=MAIN, main_sha=MAIN)
    assert decide_issue(noop, _open("x")).kind == "close"
    assert decide_issue(noop, None).kind == "none"
    assert decide_issue(_decide(main_sha=MAIN), None).kind == "none"


def test_a_huge_problem_list_is_cut_but_fingerprinted_whole():
    many = [ReleaseProblem(f"overlay-{i}", "broken") for i in range(MAX_LISTED_PROBLEMS + 5)]
    body = render_issue_body(_blocked(*many))
    assert "… and 5 more" in body
    assert "overlay-104" not in body
    fewer = render_issue_body(_blocked(*many[:-1]))
    assert read_fingerprint(body) != read_fingerprint(fewer)


def test_backticks_in_a_file_name_do_not_break_the_markdown():
    body = render_issue_body(_blocked(ReleaseProblem("a`b", "line one\nline two")))
    assert "- ``a`b``: line one line two" in body


def test_a_lost_lock_stops_the_release_before_it_writes(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    refs = git(bare_remote, "for-each-ref")

    def lost() -> None:
        raise LockError("lost the run lock: renewal refused")

    with pytest.raises(LockError):
        run_release(repo, checks=[], today=TODAY, envs=ENVS, before_write=lost)
    assert git(bare_remote, "for-each-ref") == refs


def test_run_release_follows_the_configured_base_branch(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    seed = tmp_path / "seed"
    git(seed, "checkout", "-q", "-b", "trunk")
    (seed / "a.txt").write_text("trunk only\n")
    git(seed, "commit", "-q", "-am", "on trunk")
    git(seed, "push", "-q", "origin", "trunk")
    decision = run_release(repo, checks=[], today=TODAY, envs=ENVS, base="trunk")
    assert decision.action == "release"
    trunk = git(bare_remote, "rev-parse", "trunk").strip()
    assert git(bare_remote, "rev-parse", "release/dev").strip() == trunk
    assert git(bare_remote, "rev-parse", "main").strip() != trunk


def test_each_environment_moves_its_own_ref_and_a_waiting_one_stops_no_other(
    tmp_path: Path, bare_remote: Path
):
    repo = _seeded(tmp_path, bare_remote)
    main_sha = git(bare_remote, "rev-parse", "main").strip()

    def gate(env: str) -> str | None:
        return "staging is frozen: window 'weekend'" if env == "staging" else None

    night = run_release(repo, checks=[], today=TODAY, envs=("dev", "staging", "prod"), gate=gate)
    assert night.action == "release"
    assert [(d.env, d.action) for d in night.envs] == [
        ("dev", "release"),
        ("staging", "wait"),
        ("prod", "release"),
    ]
    refs = git(bare_remote, "for-each-ref", "--format=%(refname)", "refs/heads/release/")
    assert refs.split() == ["refs/heads/release/dev", "refs/heads/release/prod"]
    assert git(bare_remote, "rev-parse", "release/prod").strip() == main_sha

    later = run_release(repo, checks=[], today=TODAY, envs=("dev", "staging", "prod"))
    assert [(d.env, d.action) for d in later.envs] == [
        ("dev", "noop"),
        ("staging", "release"),
        ("prod", "noop"),
    ]
    assert later.tag == "release-staging-20261125"


def test_a_leftover_single_release_branch_blocks_naming_the_migration(
    tmp_path: Path, bare_remote: Path
):
    """Git cannot hold `release` and `release/<env>` at once: the release says so, writes
    nothing, and names the fix (not git's "cannot lock ref")."""
    repo = _seeded(tmp_path, bare_remote)
    git(tmp_path / "seed", "push", "-q", "origin", "main:release")
    refs = git(bare_remote, "for-each-ref")
    night = run_release(repo, checks=[], today=TODAY, envs=("dev", "staging"))
    assert night.action == "blocked" and night.envs == ()
    [problem] = night.problems
    assert problem.where == "refs/heads/release"
    assert "git push origin :release" in problem.message
    assert 'deploy/README.md, "Migrating from the single `release` branch"' in problem.message
    assert git(bare_remote, "for-each-ref") == refs

    git(tmp_path / "seed", "push", "-q", "origin", ":release")  # the migration's step
    assert run_release(repo, checks=[], today=TODAY, envs=("dev",)).action == "release"


def test_a_ref_in_the_way_of_release_env_is_named_not_a_git_dump(tmp_path: Path, bare_remote: Path):
    repo = _seeded(tmp_path, bare_remote)
    git(tmp_path / "seed", "push", "-q", "origin", "main:refs/heads/release/dev/old")
    with pytest.raises(GitError) as raised:
        run_release(repo, checks=[], today=TODAY, envs=("dev",))
    message = str(raised.value)
    assert message.startswith("origin refused refs/heads/release/dev: its ref ")
    assert "refs/heads/release/dev/old exists" in message and "nothing was pushed" in message
    assert "release-dev-" not in git(bare_remote, "tag")


def test_a_hostile_problem_text_renders_inert_in_the_issue():
    """Problems quote registries' answers and what people committed: they can neither hide the
    rest of the issue, nor ping anyone, nor link anywhere."""
    from markdown_it import MarkdownIt

    hostile = ReleaseProblem(
        "deploy/a.yaml\n\n## fake heading",
        "registry said: <!-- @modelops/sre see #12 [x](javascript:alert(1)) | `code`",
    )
    body = render_issue_body(_blocked(hostile))
    tokens = MarkdownIt("commonmark").enable(["table"]).parse(body)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == ["What failed (1)", "How to fix"]
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not [c for c in inline if c.type in ("html_inline", "link_open")]
    assert [t.content.strip()[:30] for t in tokens if t.type == "html_block"] == [
        "<!-- promotion-bot:release-blo"
    ]
    text = "".join(c.content for c in inline if c.type == "text")
    assert "registry said: <!-- @\u200bmodelops/sre see #\u200b12" in text
    assert "@modelops/sre" not in text and "#12" not in text
