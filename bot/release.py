"""The nightly release: validate merged `main`, then fast-forward `release` and tag it.

The decision is pure (`decide_release`); `run_release` only sequences the adapters. A failed
validation never moves `release`; a `main` already released writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.adapters.git import GitRepo

RELEASE_BRANCH = "release"
TAG_PREFIX = "release-"


@dataclass(frozen=True)
class ReleaseProblem:
    """One thing that keeps `main` from being released (file/field/what)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ReleaseDecision:
    action: str  # "noop" | "release" | "blocked"
    reason: str
    tag: str | None = None
    problems: tuple[ReleaseProblem, ...] = field(default=())


def next_release_tag(existing: Iterable[str], today: date) -> str:
    """`release-YYYYMMDD`, or `release-YYYYMMDD-N` with the next free N for that day."""
    base = f"{TAG_PREFIX}{today:%Y%m%d}"
    pattern = re.compile(rf"^{re.escape(base)}(?:-(\d+))?$")
    taken = [m for m in (pattern.match(t) for t in existing) if m]
    if not taken:
        return base
    numbers = [int(m.group(1)) if m.group(1) else 1 for m in taken]
    return f"{base}-{max(numbers) + 1}"


def decide_release(
    *,
    main_sha: str,
    release_sha: str | None,
    main_descends_from_release: bool,
    problems: Sequence[ReleaseProblem],
    existing_tags: Iterable[str],
    today: date,
) -> ReleaseDecision:
    if release_sha == main_sha:
        return ReleaseDecision("noop", f"release is already at main ({main_sha[:12]})")
    if problems:
        return ReleaseDecision(
            "blocked",
            f"main ({main_sha[:12]}) failed {len(problems)} check(s); release not moved",
            problems=tuple(problems),
        )
    if release_sha is not None and not main_descends_from_release:
        return ReleaseDecision(
            "blocked",
            f"release ({release_sha[:12]}) is not an ancestor of main ({main_sha[:12]}): "
            "someone rewrote a branch; fix by hand",
            problems=(ReleaseProblem(RELEASE_BRANCH, "would not be a fast-forward"),),
        )
    tag = next_release_tag(existing_tags, today)
    moved = f"from {release_sha[:12]}" if release_sha else "(new branch)"
    return ReleaseDecision("release", f"fast-forward release {moved} to {main_sha[:12]}", tag=tag)


Check = Callable[[GitRepo], list[ReleaseProblem]]


def run_release(repo: GitRepo, checks: Sequence[Check], today: date) -> ReleaseDecision:
    """Fetch, validate the checkout of origin/main with every check, then act on the decision."""
    repo.fetch()
    main_sha = repo.remote_sha("main")
    if main_sha is None:
        return ReleaseDecision("blocked", "origin has no main branch")
    release_sha = repo.remote_sha(RELEASE_BRANCH)
    if release_sha == main_sha:
        return decide_release(
            main_sha=main_sha,
            release_sha=release_sha,
            main_descends_from_release=True,
            problems=(),
            existing_tags=(),
            today=today,
        )
    repo.checkout_fresh("release-candidate", "main")
    problems = [problem for check in checks for problem in check(repo)]
    decision = decide_release(
        main_sha=main_sha,
        release_sha=release_sha,
        main_descends_from_release=release_sha is None or repo.is_ancestor(release_sha, main_sha),
        problems=problems,
        existing_tags=repo.remote_tags(f"{TAG_PREFIX}*"),
        today=today,
    )
    if decision.action == "release" and decision.tag is not None:
        repo.fast_forward(main_sha, RELEASE_BRANCH, expected=release_sha)
        repo.push_tag(decision.tag, main_sha, f"Nightly release of main at {main_sha[:12]}")
    return decision
