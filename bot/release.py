"""The nightly release: validate merged `main`, then fast-forward `release` and tag it.

The decision is pure (`decide_release`); `run_release` only sequences the adapters. A failed
validation never moves `release`; a `main` already released writes nothing.

A blocked release is reported as ONE open issue labelled `release-blocked`; `decide_issue`
(pure) says whether to create it, rewrite its body (only when the set of problems changed: a
hidden marker in the body carries their fingerprint, so a job failing every night writes
nothing), close it once a release succeeds, or do nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from bot.adapters.git import GitRepo, PushRejectedError
from bot.forge import Issue

RELEASE_BRANCH = "release"
TAG_PREFIX = "release-"


@dataclass(frozen=True)
class ReleaseProblem:
    """One thing that keeps `main` from being released (file/field/what)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ReleaseAction(StrEnum):
    NOOP = "noop"  # release is already at main
    RELEASE = "release"  # move release to main and tag it
    BLOCKED = "blocked"  # main failed a check, or release cannot fast-forward


class IssueActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CLOSE = "close"
    NONE = "none"


class ReportOutcome(StrEnum):
    """What became of the release-blocked issue on the forge."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CLOSED = "closed"
    NONE = "none"  # no issue, none needed
    SKIPPED = "skipped"  # no forge token
    FAILED = "failed"  # the forge refused or is down; the decision stands


@dataclass(frozen=True)
class ForgeReport:
    """What became of the release-blocked issue on the forge, in one line for the CLI."""

    action: ReportOutcome
    message: str
    url: str | None = None


@dataclass(frozen=True)
class ReleaseDecision:
    action: ReleaseAction
    reason: str
    tag: str | None = None
    problems: tuple[ReleaseProblem, ...] = field(default=())
    main_sha: str | None = None
    report: ForgeReport | None = None  # set by `bot.api.release` after reporting


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
    release_tagged: bool = True,
) -> ReleaseDecision:
    """What to do with `release`; `release_tagged`: its sha already carries a release tag."""
    if release_sha == main_sha and not release_tagged:
        # an earlier run moved the branch but its tag never arrived (pre-atomic push, or by hand)
        tag = next_release_tag(existing_tags, today)
        return ReleaseDecision(
            ReleaseAction.RELEASE,
            f"release is at main ({main_sha[:12]}) but untagged: tagging it",
            tag=tag,
            main_sha=main_sha,
        )
    if release_sha == main_sha:
        return ReleaseDecision(
            ReleaseAction.NOOP, f"release is already at main ({main_sha[:12]})", main_sha=main_sha
        )
    if problems:
        return ReleaseDecision(
            ReleaseAction.BLOCKED,
            f"main ({main_sha[:12]}) failed {len(problems)} check(s); release not moved",
            problems=tuple(problems),
            main_sha=main_sha,
        )
    if release_sha is not None and not main_descends_from_release:
        return ReleaseDecision(
            ReleaseAction.BLOCKED,
            f"release ({release_sha[:12]}) is not an ancestor of main ({main_sha[:12]}): "
            "someone rewrote a branch; fix by hand",
            problems=(ReleaseProblem(RELEASE_BRANCH, "would not be a fast-forward"),),
            main_sha=main_sha,
        )
    tag = next_release_tag(existing_tags, today)
    moved = f"from {release_sha[:12]}" if release_sha else "(new branch)"
    return ReleaseDecision(
        ReleaseAction.RELEASE,
        f"fast-forward release {moved} to {main_sha[:12]}",
        tag=tag,
        main_sha=main_sha,
    )


Check = Callable[[GitRepo], list[ReleaseProblem]]


def run_release(
    repo: GitRepo,
    checks: Sequence[Check],
    today: date,
    *,
    base: str = "main",
    before_write: Callable[[], None] = lambda: None,
) -> ReleaseDecision:
    """Fetch, validate the checkout of origin/<base> with every check, then act on it.

    `before_write` runs right before the push (the run lock's `ensure_held`): raising stops it.
    """
    repo.fetch()
    main_sha = repo.remote_sha(base)
    if main_sha is None:
        return ReleaseDecision(ReleaseAction.BLOCKED, f"origin has no {base} branch")
    release_sha = repo.remote_sha(RELEASE_BRANCH)
    if release_sha == main_sha:
        tagged = bool(repo.remote_tags_at(main_sha, f"{TAG_PREFIX}*"))
        decision = decide_release(
            main_sha=main_sha,
            release_sha=release_sha,
            main_descends_from_release=True,
            problems=(),
            existing_tags=() if tagged else repo.remote_tags(f"{TAG_PREFIX}*"),
            today=today,
            release_tagged=tagged,
        )
        _apply(repo, decision, release_sha, before_write)
        return decision
    repo.checkout_fresh("release-candidate", base)
    problems = [problem for check in checks for problem in check(repo)]
    decision = decide_release(
        main_sha=main_sha,
        release_sha=release_sha,
        main_descends_from_release=release_sha is None or repo.is_ancestor(release_sha, main_sha),
        problems=problems,
        existing_tags=repo.remote_tags(f"{TAG_PREFIX}*"),
        today=today,
    )
    _apply(repo, decision, release_sha, before_write)
    return decision


def _apply(
    repo: GitRepo,
    decision: ReleaseDecision,
    release_sha: str | None,
    before_write: Callable[[], None],
) -> None:
    """Move `release` and push its tag in ONE atomic push: both land, or neither does."""
    if (
        decision.action is not ReleaseAction.RELEASE
        or decision.tag is None
        or decision.main_sha is None
    ):
        return
    sha = decision.main_sha
    if release_sha is not None and not repo.is_ancestor(release_sha, sha):
        raise PushRejectedError(
            f"{RELEASE_BRANCH} at {release_sha[:12]} is not an ancestor of {sha[:12]}: "
            "refusing a non-fast-forward"
        )
    before_write()
    repo.create_tag(decision.tag, sha, f"Nightly release of main at {sha[:12]}")
    branch_ref = f"refs/heads/{RELEASE_BRANCH}"
    repo.push_atomic(
        [f"{sha}:{branch_ref}", f"refs/tags/{decision.tag}"], leases={branch_ref: release_sha}
    )


# --------------------------------------------------------------------------- the forge issue

ISSUE_LABEL = "release-blocked"
ISSUE_TITLE = "Nightly release blocked"
ISSUE_MARKER = "<!-- promotion-bot:release-blocked"
_FINGERPRINT_RE = re.compile(re.escape(ISSUE_MARKER) + r" problems=([0-9a-f]{16}) -->")
MAX_LISTED_PROBLEMS = 100  # an issue body holds at most 65,536 characters


@dataclass(frozen=True)
class IssueAction:
    kind: IssueActionKind
    reason: str
    number: int | None = None
    url: str | None = None
    body: str | None = None  # create, update
    comment: str | None = None  # close


def blocking_problems(decision: ReleaseDecision) -> tuple[ReleaseProblem, ...]:
    """The problems to report; a block without listed problems reports its reason."""
    return decision.problems or (ReleaseProblem("main", decision.reason),)


def problems_fingerprint(problems: Iterable[ReleaseProblem]) -> str:
    """The same set of problems, in any order, gives the same 16 hex digits."""
    lines = sorted(f"{p.where}\0{p.message}" for p in problems)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def read_fingerprint(body: str) -> str | None:
    match = _FINGERPRINT_RE.search(body)
    return match.group(1) if match else None


def _code(text: str) -> str:
    """`text` as inline code, fenced with more backticks than it contains in a row."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_issue_body(decision: ReleaseDecision) -> str:
    """The issue text: what failed (file/field), at which `main`, and how to fix and re-run."""
    problems = blocking_problems(decision)
    main = _code(decision.main_sha) if decision.main_sha else "`main` (not found on origin)"
    listed = [f"- {_code(p.where)}: {_one_line(p.message)}" for p in problems]
    if len(listed) > MAX_LISTED_PROBLEMS:
        more = len(listed) - MAX_LISTED_PROBLEMS
        listed = [*listed[:MAX_LISTED_PROBLEMS], f"- … and {more} more (`promotion-bot release`)"]
    return "\n".join(
        [
            f"{ISSUE_MARKER} problems={problems_fingerprint(problems)} -->",
            f"The nightly `promotion-bot release` did **not** move `release`: "
            f"{_one_line(decision.reason)}.",
            "",
            f"Checked: `main` at {main}.",
            "",
            f"## What failed ({len(problems)})",
            "",
            *listed,
            "",
            "## How to fix",
            "",
            "1. Fix each item on `main` through a pull request: correct the named file and field, "
            "or push the missing image / register the missing model version so that the pin "
            "resolves to exactly what is written.",
            "2. Re-run `promotion-bot release` (the nightly job runs it too). When a release "
            "succeeds, the bot closes this issue with a comment naming the release tag.",
            "",
            "_This issue is kept up to date in place: the bot edits it only when the list of "
            "problems changes, and opens no other while it is open._",
            "",
        ]
    )


def decide_issue(decision: ReleaseDecision, open_issue: Issue | None) -> IssueAction:
    """Create, update, close or leave the one release-blocked issue (pure)."""
    if decision.action is ReleaseAction.BLOCKED:
        body = render_issue_body(decision)
        if open_issue is None:
            return IssueAction(
                IssueActionKind.CREATE, "release blocked: opening an issue", body=body
            )
        wanted = problems_fingerprint(blocking_problems(decision))
        if read_fingerprint(open_issue.body) == wanted:
            return IssueAction(
                IssueActionKind.NONE,
                f"issue #{open_issue.number} already lists these problems",
                number=open_issue.number,
                url=open_issue.url,
            )
        return IssueAction(
            IssueActionKind.UPDATE,
            f"the problems changed: rewriting issue #{open_issue.number}",
            number=open_issue.number,
            url=open_issue.url,
            body=body,
        )
    if open_issue is None:
        return IssueAction(IssueActionKind.NONE, "no release-blocked issue is open")
    sha = _code(decision.main_sha[:12]) if decision.main_sha else "`main`"
    if decision.action is ReleaseAction.RELEASE:
        comment = (
            f"Released: `main` at {sha} passed every check; `release` fast-forwarded to it and "
            f"tagged {_code(decision.tag or '?')}. Closing."
        )
    else:
        comment = f"`release` is already at `main` ({sha}): nothing is blocked any more. Closing."
    return IssueAction(
        IssueActionKind.CLOSE,
        f"release is unblocked: closing issue #{open_issue.number}",
        number=open_issue.number,
        url=open_issue.url,
        comment=comment,
    )
