"""One scheduled run, as three visible steps: read the world, decide (pure), apply.

    world    = services.read_world()                      read: overlays, registry, model store
    planned  = plan(world.state, world.candidates, ...)   decide: bot.core.plan (pure)
    facts    = read_env_facts(world, planned, ...)        read: PRs, branches, proposed texts
    actions  = decide_pr_action(...) per environment      decide: bot.core.pr_action (pure)
    outcomes = execute(action, ...) per environment       apply: push, PR writes, automerge

`run` retries the whole sequence from a fresh read when the remote moved under it. `execute`
performs exactly the decided action, and nothing for the kinds that write nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.adapters.git import GitRepo, PushRejectedError
from bot.core.plan import Plan, plan
from bot.core.policy import Reviewer
from bot.core.pr_action import (
    BRANCH_PREFIX,
    Asked,
    PrAction,
    PrActionKind,
    branch_for,
    decide_pr_action,
)
from bot.errors import BotError
from bot.forge import Forge, ForgeConflictError, ForgeError, ForgeUnreachableError
from bot.freeze_status import sync_freeze_statuses
from bot.policy import PromotionPolicy
from bot.wiring import Services
from bot.world import HUMAN_MARKER, EnvFacts, Proposal, World, checks_marker, read_env_facts

MAX_ATTEMPTS = 3
Validate = Callable[[GitRepo, PromotionPolicy], list[str]]  # the automerge check


@dataclass
class EnvOutcome:
    """What became of one environment: the action performed, and whether its PR was merged.

    `action` is NOOP when a decided merge wrote nothing (checks failed or the merge was
    refused); `label` is how the CLI names it (`push+create+merged`, `merged`, `hold`...)."""

    env: str
    action: PrActionKind
    reason: str
    pr_number: int | None = None
    diff: str = ""
    merged: bool = False

    @property
    def wrote(self) -> bool:
        return self.action.writes or self.merged

    @property
    def label(self) -> str:
        if not self.merged:
            return self.action.value
        return "merged" if self.action is PrActionKind.MERGE else f"{self.action.value}+merged"


@dataclass
class RunReport:
    plan: Plan
    outcomes: list[EnvOutcome] = field(default_factory=list)
    dry_run: bool = False
    freeze: list[str] = field(default_factory=list)  # `promotion/freeze` statuses written

    @property
    def wrote(self) -> bool:
        return any(o.wrote for o in self.outcomes) or bool(self.freeze)


def run(
    services: Services,
    *,
    now: datetime,
    dry_run: bool,
    validate: Validate,
    ensure_held: Callable[[], None] = lambda: None,
) -> RunReport:
    """The run, started again from a fresh read when a branch or a PR head moved under us."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return run_once(
                services, now=now, dry_run=dry_run, validate=validate, ensure_held=ensure_held
            )
        except (PushRejectedError, ForgeConflictError):
            if attempt == MAX_ATTEMPTS:
                raise
        time.sleep(0.5 * 2**attempt)
        services.repo.fetch()
    raise BotError("unreachable")  # pragma: no cover


def run_once(
    services: Services,
    *,
    now: datetime,
    dry_run: bool,
    validate: Validate,
    ensure_held: Callable[[], None] = lambda: None,
) -> RunReport:
    # 1. read the world, and decide what should move (pure)
    world = services.read_world()
    planned = plan(world.state, world.candidates, world.policy, now)
    # 2. read what each environment's PR decision needs, and decide it (pure)
    forge = services.forge
    facts = read_env_facts(
        world,
        planned,
        repo=services.repo,
        open_prs=forge.open_prs(world.base, BRANCH_PREFIX),
        forge=forge,
    )
    actions = [
        decide(world, env_plan.env, planned, facts[env_plan.env]) for env_plan in planned.envs
    ]
    # 3. apply: exactly the decided actions (a dry run reports them with their diffs)
    report = RunReport(planned, dry_run=dry_run)
    for action in actions:
        proposal = facts[action.env].proposal
        diff = proposal.diff() if proposal is not None and action.new_text is not None else ""
        if dry_run:
            number = action.pr.number if action.pr else None
            report.outcomes.append(EnvOutcome(action.env, action.kind, action.reason, number, diff))
            continue
        ensure_held()  # never write for an environment once the run lock is lost
        outcome = execute(
            action,
            proposal,
            repo=services.repo,
            forge=forge,
            world=world,
            validate=validate,
            ensure_held=ensure_held,
        )
        outcome.diff = diff
        report.outcomes.append(outcome)
    if not dry_run:  # freezes at merge too: `promotion/freeze` on open promotion PRs' heads
        ensure_held()
        report.freeze = sync_freeze_statuses(forge, world.policy, world.base, now)
    return report


def decide(world: World, env: str, planned: Plan, facts: EnvFacts) -> PrAction:
    proposal = facts.proposal
    env_policy = world.policy.environment(env)
    return decide_pr_action(
        planned.env(env),
        facts.pr,
        facts.branch,
        new_text=proposal.new_text if proposal else None,
        title=proposal.title if proposal else None,
        body=proposal.body if proposal else None,
        human_comment_posted=facts.human_comment_posted,
        automerge=env_policy.automerge,
        rejected=facts.rejected,
        asked=Asked(env_policy.labels, env_policy.reviewers, facts.reviewed),
        checks=facts.checks,
        checks_comment_posted=facts.checks_comment_posted,
    )


# --------------------------------------------------------------------------- apply


def execute(
    action: PrAction,
    proposal: Proposal | None,
    *,
    repo: GitRepo,
    forge: Forge,
    world: World,
    validate: Validate,
    ensure_held: Callable[[], None] = lambda: None,
) -> EnvOutcome:
    """Perform `action`; `ensure_held` runs before each of its remote writes after the first
    (the caller checks before the first), since a push or a validation can take long."""
    env, kind = action.env, PrActionKind
    number = action.pr.number if action.pr else None
    outcome = EnvOutcome(env, action.kind, action.reason, number)
    if not action.kind.writes:
        return outcome
    if action.kind is kind.REPAIR:
        _repair(forge, action, outcome)
        return outcome
    if action.kind is kind.CLOSE:
        assert action.pr is not None  # noqa: S101 (decide_pr_action guarantees it)
        forge.close_pr(
            action.pr.number, f"Closed by promotion-bot: no longer needed ({action.reason})."
        )
        return outcome
    if action.kind is kind.COMMENT_CHECKS:
        assert action.pr is not None  # noqa: S101 (decide_pr_action guarantees it)
        forge.comment(
            action.pr.number,
            f"{checks_marker(action.pr.head_sha)}\npromotion-bot will not automerge this PR: "
            f"{action.reason.removeprefix('automerge stopped: ')} on "
            f"`{action.pr.head_sha[:12]}`. Re-run the checks (the next run merges once they "
            "pass), or merge or close it by hand.",
        )
        _repair(forge, action, outcome)
        return outcome
    if action.kind is kind.COMMENT_HUMAN:
        if action.pr is not None:
            forge.comment(
                action.pr.number,
                f"{HUMAN_MARKER}\nSomeone else pushed to `{branch_for(env)}`, so promotion-bot "
                f"will not overwrite it. Merge or close this PR (or delete the branch) and the "
                f"next run proposes: {action.promotion.summary if action.promotion else ''}.",
            )
        _repair(forge, action, outcome)
        return outcome
    assert proposal is not None and action.title is not None  # noqa: S101 (a write has them)
    assert action.body is not None  # noqa: S101
    head_sha = action.pr.head_sha if action.pr else None
    if action.kind.pushes:
        head_sha = push_promotion(repo, world.base, proposal, before_push=ensure_held)
        ensure_held()
    if action.kind in {kind.PUSH_UPDATE, kind.UPDATE}:
        assert action.pr is not None  # noqa: S101
        forge.update_pr(action.pr.number, title=action.title, body=action.body)
    elif action.kind is kind.PUSH_CREATE:
        env_policy = world.policy.environment(env)
        created = forge.create_pr(
            title=action.title,
            body=action.body,
            head=branch_for(env),
            base=world.base,
            labels=env_policy.labels,
        )
        outcome.pr_number = created.number
        head_sha = created.head_sha
        _request_reviews(forge, created.number, env_policy.reviewers, outcome)
    _repair(forge, action, outcome)
    if action.merge and head_sha is not None:  # never a head pushed just now
        _automerge(
            action,
            outcome,
            head_sha,
            repo=repo,
            forge=forge,
            world=world,
            validate=validate,
            ensure_held=ensure_held,
        )
    return outcome


def _automerge(
    action: PrAction,
    outcome: EnvOutcome,
    head_sha: str,
    *,
    repo: GitRepo,
    forge: Forge,
    world: World,
    validate: Validate,
    ensure_held: Callable[[], None],
) -> None:
    """Merge `head_sha` once every overlay on the branch validates; else say why, write nothing."""
    if outcome.pr_number is None:
        return
    # validate what the PR holds, not this checkout
    repo.checkout_fresh(branch_for(action.env), branch_for(action.env))
    problems = validate(repo, world.policy)
    if problems:
        outcome.reason += "; automerge skipped: " + "; ".join(problems)
        if action.kind is PrActionKind.MERGE:
            outcome.action = PrActionKind.NOOP  # nothing was written
        return
    ensure_held()  # validating renders every overlay: it can take long
    _merge(forge, outcome, head_sha)


def _repair(forge: Forge, action: PrAction, outcome: EnvOutcome) -> None:
    """Add the labels and review requests the open PR lacks (both writes are idempotent)."""
    if action.pr is None:
        return
    if action.add_labels:
        forge.add_labels(action.pr.number, action.add_labels)
    _request_reviews(forge, action.pr.number, action.request, outcome)


def _request_reviews(
    forge: Forge, number: int, reviewers: tuple[Reviewer, ...], outcome: EnvOutcome
) -> None:
    """One request for every reviewer. A refusal (say, a login that is no collaborator) is
    reported on the environment and the run goes on; the next run asks again."""
    if not reviewers:
        return
    try:
        forge.request_reviews(number, reviewers)
    except ForgeUnreachableError:
        raise
    except ForgeError as exc:
        if exc.status is not None and exc.status >= 500:
            raise  # a 5xx may have been applied: the next run reads and repairs
        outcome.reason += f"; reviewers not requested: {exc}"


def _merge(forge: Forge, outcome: EnvOutcome, head_sha: str) -> None:
    assert outcome.pr_number is not None  # noqa: S101 (execute checks it)
    try:
        forge.merge_pr(outcome.pr_number, sha=head_sha, method="squash")
    except ForgeConflictError:
        raise  # the head moved: the run starts again from a fresh read
    except ForgeError as exc:  # e.g. branch protection: say so, keep the PR, go on
        outcome.reason += f"; automerge refused: {exc}"
        if outcome.action is PrActionKind.MERGE:
            outcome.action = PrActionKind.NOOP  # nothing was written
    else:
        outcome.merged = True


def push_promotion(
    repo: GitRepo, base: str, proposal: Proposal, before_push: Callable[[], None] = lambda: None
) -> str:
    """Rebuild `promote/<env>` from fresh `base` with the edit; push with lease; return its sha.

    `before_push` (the run lock's check) runs right before the push."""
    promotion = proposal.promotion
    branch = branch_for(promotion.env)
    expected = repo.remote_sha(branch)
    repo.checkout_fresh(branch, base)
    overlay = repo.path / promotion.overlay
    overlay.write_bytes(proposal.new_text.encode())
    sha = repo.commit([overlay], proposal.commit_message())
    before_push()
    repo.push_with_lease(sha, branch, expected)
    return sha


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


#: A test seam for the demo and tests: the bot's clock as an ISO time (with its zone).
NOW_VARIABLE = "PROMOTION_BOT_NOW"


def now_utc() -> datetime:
    """The bot's clock: now, or `$PROMOTION_BOT_NOW` (the demo's advanced clock)."""
    fixed = os.environ.get(NOW_VARIABLE, "").strip()
    if not fixed:
        return datetime.now(UTC)
    when = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise BotError(f"{NOW_VARIABLE}={fixed!r} has no time zone")
    return when.astimezone(UTC)
