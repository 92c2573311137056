"""The nightly release: validate merged `main`, then move each environment's `release/<env>`.

Each environment ships on its own branch (`bot.core.confirm.release_ref`, docs/decisions.md):
its ref fast-forwards to `main` (and is tagged `release-<env>-YYYYMMDD`) only when `main`
validates and the environment's gate says nothing against it now (`gate`: a freeze window open
at release time, a hold, or pins its previous environment has not confirmed running for the
soak; `bot.core.release_gate.release_blocker`). A frozen or held environment waits; the others
still move. The decision is pure (`decide_release`); `run_release` only sequences the
adapters. A failed validation never moves a ref; refs already at `main` write nothing.

A blocked release is reported as ONE open issue labelled `release-blocked`; `decide_issue`
(pure) says whether to create it, rewrite its body (only when the set of problems changed: a
hidden marker in the body carries their fingerprint, so a job failing every night writes
nothing), close it once a release succeeds, or do nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from bot.adapters.git import GitError, GitRepo, PushRejectedError
from bot.core.confirm import RELEASE_REF_PREFIX, release_ref
from bot.forge import Issue
from bot.release_status import StatusResult
from bot.untrusted import markdown, terminal

TAG_PREFIX = "release-"
#: The single branch every environment shipped from before `release/<env>` (decision 25).
LEGACY_BRANCH = "release"
MIGRATION_DOC = 'deploy/README.md, "Migrating from the single `release` branch"'
#: git's refusal of a ref another one blocks:
#:  "cannot lock ref 'refs/heads/release/dev': 'refs/heads/release' exists; cannot create"
_REF_CLASH = re.compile(r"'(?P<ref>refs/[^'\s]+)' exists; cannot create")


@dataclass(frozen=True)
class ReleaseProblem:
    """One thing that keeps `main` from being released (file/field/what)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ReleaseAction(StrEnum):
    NOOP = "noop"  # the ref is already at main
    RELEASE = "release"  # move the ref to main and tag it
    WAIT = "wait"  # the environment may not move now (freeze, hold, soak): not an error
    BLOCKED = "blocked"  # main failed a check, or the ref cannot fast-forward


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
    """The release of one ref (`envs` empty), or of the whole night (`envs`: one per ref)."""

    action: ReleaseAction
    reason: str
    tag: str | None = None
    problems: tuple[ReleaseProblem, ...] = field(default=())
    main_sha: str | None = None
    report: ForgeReport | None = None  # set by `bot.api.release` after reporting
    ref: str | None = None
    from_sha: str | None = None
    envs: tuple[ReleaseDecision, ...] = ()
    # what became of the `promotion/release/<env>` statuses (`bot.release_status`), if any
    statuses: tuple[StatusResult, ...] = ()
    note: str | None = None  # what the move adds (recorded in the tag message too)

    @property
    def env(self) -> str | None:
        return self.ref.removeprefix(RELEASE_REF_PREFIX) if self.ref else None


def next_release_tag(existing: Iterable[str], today: date, env: str | None = None) -> str:
    """`release-<env>-YYYYMMDD`, or `...-N` with the next free N for that day."""
    base = f"{TAG_PREFIX}{env + '-' if env else ''}{today:%Y%m%d}"
    pattern = re.compile(rf"^{re.escape(base)}(?:-(\d+))?$")
    taken = [m for m in (pattern.match(t) for t in existing) if m]
    if not taken:
        return base
    numbers = [int(m.group(1)) if m.group(1) else 1 for m in taken]
    return f"{base}-{max(numbers) + 1}"


def is_release_tag(name: str, env: str) -> bool:
    """Whether tag `name` is one `next_release_tag` makes for `env`."""
    base = re.escape(f"{TAG_PREFIX}{env}-")
    return re.fullmatch(rf"{base}[0-9]{{8}}(?:-[0-9]+)?", name) is not None


def decide_release(
    *,
    main_sha: str,
    release_sha: str | None,
    main_descends_from_release: bool,
    problems: Sequence[ReleaseProblem],
    existing_tags: Iterable[str],
    today: date,
    release_tagged: bool = True,
    env: str = "dev",
    wait: str | None = None,
) -> ReleaseDecision:
    """What to do with `release/<env>`; `release_tagged`: its sha already carries a release
    tag; `wait`: why the environment may not move now (freeze, hold, soak), if anything."""
    ref = release_ref(env)
    short = main_sha[:12]

    base = ReleaseDecision(ReleaseAction.NOOP, "", main_sha=main_sha, ref=ref, from_sha=release_sha)

    def decision(
        action: ReleaseAction,
        reason: str,
        tag: str | None = None,
        problems: tuple[ReleaseProblem, ...] = (),
    ) -> ReleaseDecision:
        return replace(base, action=action, reason=reason, tag=tag, problems=problems)

    if release_sha == main_sha and not release_tagged:
        # Every move pushes the ref and its tag atomically, so an untagged tip was pushed by
        # someone else, past the checks and gates: tagging it now would vouch for it (and,
        # with `confirm: release`, start the next environment's soak from it).
        return decision(
            ReleaseAction.BLOCKED,
            f"{ref} is at main ({short}) but carries no release tag: moved by hand, not released",
            problems=(
                ReleaseProblem(
                    f"refs/heads/{ref}",
                    f"at {short} without a `{TAG_PREFIX}{env}-*` tag: the release moves a ref "
                    "and tags it in one push, so this one was pushed by hand, and the release "
                    "neither tags nor vouches for it. Push the ref back to its last release "
                    "tag (the next release then moves it through the checks and gates), or, "
                    "if you vouch for this commit, tag it yourself",
                ),
            ),
        )
    if release_sha == main_sha:
        return decision(ReleaseAction.NOOP, f"{ref} is already at main ({short})")
    if problems:
        return decision(
            ReleaseAction.BLOCKED,
            f"main ({short}) failed {len(problems)} check(s); {ref} not moved",
            problems=tuple(problems),
        )
    if release_sha is not None and not main_descends_from_release:
        return decision(
            ReleaseAction.BLOCKED,
            f"{ref} ({release_sha[:12]}) is not an ancestor of main ({short}): "
            "someone rewrote a branch; fix by hand",
            problems=(ReleaseProblem(ref, "would not be a fast-forward"),),
        )
    if wait is not None:
        return decision(ReleaseAction.WAIT, f"{ref} not moved: {wait}")
    tag = next_release_tag(existing_tags, today, env)
    moved = f"from {release_sha[:12]}" if release_sha else "(new branch)"
    return decision(ReleaseAction.RELEASE, f"fast-forward {ref} {moved} to {short}", tag=tag)


def summarize(main_sha: str, envs: Sequence[ReleaseDecision]) -> ReleaseDecision:
    """The night's decision: BLOCKED if any ref is, else RELEASE if any moved, else NOOP."""
    short = main_sha[:12]
    problems = tuple(dict.fromkeys(p for d in envs for p in d.problems))
    moved = [d for d in envs if d.action is ReleaseAction.RELEASE]
    blocked = [d for d in envs if d.action is ReleaseAction.BLOCKED]
    # main's checks block every ref alike; a ref's own problem (`refs/heads/...`) is its own
    ref_problem = any(p.where.startswith("refs/heads/") for p in problems)
    if problems and len(blocked) == len(envs) and not ref_problem:
        action = ReleaseAction.BLOCKED
        reason = f"main ({short}) failed {len(problems)} check(s); no release ref moved"
    elif blocked:
        action, reason = ReleaseAction.BLOCKED, "; ".join(d.reason for d in blocked)
    elif moved:
        names = ", ".join(str(d.ref) for d in moved)
        action, reason = ReleaseAction.RELEASE, f"released main ({short}) to {names}"
    else:
        action, reason = ReleaseAction.NOOP, f"no release ref moved (main at {short})"
    tags = ", ".join(str(d.tag) for d in moved if d.tag)
    return ReleaseDecision(
        action, reason, tag=tags or None, problems=problems, main_sha=main_sha, envs=tuple(envs)
    )


Check = Callable[[GitRepo], list[ReleaseProblem]]
#: Why environment `env` may not move to the checked-out main now (None: it may).
Gate = Callable[[str], str | None]


def run_release(
    repo: GitRepo,
    checks: Sequence[Check],
    today: date,
    *,
    envs: Sequence[str],
    gate: Gate = lambda env: None,
    base: str = "main",
    before_write: Callable[[], None] = lambda: None,
    after_move: Callable[[ReleaseDecision], None] = lambda decision: None,
    note: Callable[[str], str | None] = lambda env: None,
) -> ReleaseDecision:
    """Fetch, validate the checkout of origin/<base> with every check, then move each
    environment's ref in `envs` order (`gate` decides per environment; a ref moved earlier in
    the night is what the next environment's gate reads). `before_write` runs right before
    each push (the run lock's `ensure_held`): raising stops it; `after_move` after each.
    `note`: what a move of the environment adds to its reason and tag message (asked after
    its gate), if anything."""
    repo.fetch()
    main_sha = repo.remote_sha(base)
    if main_sha is None:
        return ReleaseDecision(ReleaseAction.BLOCKED, f"origin has no {base} branch")
    legacy = repo.remote_sha(LEGACY_BRANCH)
    if legacy is not None and envs:
        return legacy_branch_block(main_sha, legacy)
    refs = {env: repo.remote_sha(release_ref(env)) for env in envs}
    problems: list[ReleaseProblem] | None = None
    if any(sha != main_sha for sha in refs.values()):
        repo.checkout_fresh("release-candidate", base)
        problems = [problem for check in checks for problem in check(repo)]
    decisions = []
    for env in envs:
        release_sha = refs[env]
        pattern = f"{TAG_PREFIX}{env}-*"
        at_main = release_sha == main_sha
        tagged = bool(repo.remote_tags_at(main_sha, pattern)) if at_main else True
        decision = decide_release(
            main_sha=main_sha,
            release_sha=release_sha,
            main_descends_from_release=release_sha is None
            or at_main
            or repo.is_ancestor(release_sha, main_sha),
            problems=problems or (),
            existing_tags=repo.remote_tags(pattern) if not at_main else (),
            today=today,
            release_tagged=tagged,
            env=env,
            wait=None if at_main or problems else gate(env),
        )
        said = note(env) if decision.action is ReleaseAction.RELEASE else None
        if said:
            decision = replace(decision, reason=f"{decision.reason}; {said}", note=said)
        _apply(repo, decision, before_write)
        if decision.action is ReleaseAction.RELEASE:
            after_move(decision)
        decisions.append(decision)
    return summarize(main_sha, decisions)


def legacy_branch_block(main_sha: str, legacy: str) -> ReleaseDecision:
    """Blocked, writing nothing, while origin still has the branch `release`: Git cannot hold
    it and any `release/<env>` at once (a ref is a file or a directory), so every push would
    fail with "cannot lock ref". The operator deletes it once (the migration in the doc)."""
    problem = ReleaseProblem(
        f"refs/heads/{LEGACY_BRANCH}",
        f"origin still has the single release branch `{LEGACY_BRANCH}` (at {legacy[:12]}); Git "
        f"cannot hold it next to `{release_ref('<env>')}`. Delete it "
        f"(`git push origin :{LEGACY_BRANCH}`), then re-run: see {MIGRATION_DOC}",
    )
    reason = (
        f"origin has the old branch `{LEGACY_BRANCH}`: no release ref can be pushed until it "
        f"is deleted ({MIGRATION_DOC})"
    )
    return ReleaseDecision(ReleaseAction.BLOCKED, reason, problems=(problem,), main_sha=main_sha)


def _apply(repo: GitRepo, decision: ReleaseDecision, before_write: Callable[[], None]) -> None:
    """Move the ref and push its tag in ONE atomic push: both land, or neither does."""
    if (
        decision.action is not ReleaseAction.RELEASE
        or decision.tag is None
        or decision.main_sha is None
        or decision.ref is None
    ):
        return
    sha, release_sha = decision.main_sha, decision.from_sha
    if release_sha is not None and not repo.is_ancestor(release_sha, sha):
        raise PushRejectedError(
            f"{decision.ref} at {release_sha[:12]} is not an ancestor of {sha[:12]}: "
            "refusing a non-fast-forward"
        )
    before_write()
    message = f"Nightly release of main at {sha[:12]} to {decision.ref}"
    repo.create_tag(
        decision.tag, sha, f"{message}\n\n{decision.note}" if decision.note else message
    )
    branch_ref = f"refs/heads/{decision.ref}"
    try:
        repo.push_atomic(
            [f"{sha}:{branch_ref}", f"refs/tags/{decision.tag}"], leases={branch_ref: release_sha}
        )
    except GitError as exc:
        clash = _REF_CLASH.search(str(exc))
        if clash is None:
            raise
        raise GitError(
            f"origin refused {branch_ref}: its ref {clash['ref']} exists and Git cannot hold "
            f"both (a ref is a file or a directory); nothing was pushed. Delete or rename "
            f"{clash['ref']}, then re-run (for `refs/heads/{LEGACY_BRANCH}`: {MIGRATION_DOC})"
        ) from None


# --------------------------------------------------------------------------- the forge issue

ISSUE_LABEL = "release-blocked"
ISSUE_TITLE = "Nightly release blocked"
ISSUE_MARKER = "<!-- promotion-bot:release-blocked"
_FINGERPRINT_RE = re.compile(re.escape(ISSUE_MARKER) + r" problems=([0-9a-f]{16}) -->")
MAX_LISTED_PROBLEMS = 100  # an issue body holds at most 65,536 characters
PROBLEM_LIMIT = 500  # characters of one problem's text: 100 of them still fit


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


def render_issue_body(decision: ReleaseDecision) -> str:
    """The issue text: what failed (file/field), at which `main`, and how to fix and re-run."""
    problems = blocking_problems(decision)
    main = _code(decision.main_sha) if decision.main_sha else "`main` (not found on origin)"
    # problems quote registries' answers, image references and file names: inert Markdown
    listed = [
        f"- {_code(terminal(p.where, limit=PROBLEM_LIMIT))}: "
        f"{markdown(p.message, limit=PROBLEM_LIMIT)}"
        for p in problems
    ]
    if len(listed) > MAX_LISTED_PROBLEMS:
        more = len(listed) - MAX_LISTED_PROBLEMS
        listed = [*listed[:MAX_LISTED_PROBLEMS], f"- … and {more} more (`promotion-bot release`)"]
    return "\n".join(
        [
            f"{ISSUE_MARKER} problems={problems_fingerprint(problems)} -->",
            f"The nightly `promotion-bot release` did **not** move the release refs: "
            f"{markdown(decision.reason, limit=PROBLEM_LIMIT)}.",
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
            f"Released: `main` at {sha} passed every check; the release refs the policy lets "
            f"move now fast-forwarded to it, tagged {_code(decision.tag or '?')}. Closing."
        )
    else:
        comment = (
            f"`main` ({sha}) is released or waits only for a freeze, hold or soak: nothing is "
            "blocked any more. Closing."
        )
    return IssueAction(
        IssueActionKind.CLOSE,
        f"release is unblocked: closing issue #{open_issue.number}",
        number=open_issue.number,
        url=open_issue.url,
        comment=comment,
    )
