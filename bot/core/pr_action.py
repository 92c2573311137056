"""What to do with one environment's promotion branch and PR: a pure decision table.

The run reads the facts (the env's plan, its open PR, its branch on the remote, the PRs a
reviewer closed) and `decide_pr_action` answers with one `PrAction`; the runner then performs
exactly that. Each row of the table is one early return, tested one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from bot.core.checks import ChecksVerdict, Verdict
from bot.core.marker import same_body, same_target
from bot.core.plan import EnvPlan, Promotion
from bot.core.policy import Reviewer

BRANCH_PREFIX = "promote/"


def branch_for(env: str) -> str:
    """The branch the bot proposes `env`'s promotion on."""
    return f"{BRANCH_PREFIX}{env}"


class PrActionKind(StrEnum):
    """What happens to an environment's branch and PR (the value is what the CLI prints)."""

    NONE = "none"  # nothing to promote, no PR
    HOLD = "hold"  # a time gate or a reviewer's rejection holds it; an open PR stays
    NOOP = "noop"  # already proposed as is (or someone else's branch, already said so)
    CLOSE = "close"  # a stale PR: nothing to promote any more
    COMMENT_HUMAN = "comment-human"  # someone else pushed to the branch: say so, do not push
    PUSH_CREATE = "push+create"  # push the branch, open the PR
    PUSH_UPDATE = "push+update"  # rebuild the branch, update the PR text
    UPDATE = "update"  # only the PR text is out of date
    MERGE = "merge"  # the PR already proposes this and automerge is allowed
    REPAIR = "repair"  # an open PR lacks the policy's labels or review requests: add them
    COMMENT_CHECKS = "comment-checks"  # automerge stopped by a failed check: say so, once

    @property
    def pushes(self) -> bool:
        return self in {PrActionKind.PUSH_CREATE, PrActionKind.PUSH_UPDATE}

    @property
    def writes(self) -> bool:
        """False for the kinds that leave the remote and the forge untouched."""
        return self not in {PrActionKind.NONE, PrActionKind.HOLD, PrActionKind.NOOP}


class OpenPr(Protocol):
    """What the table reads of an open PR (the forge's pull request has these and more)."""

    @property
    def number(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def head_sha(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def requested(self) -> tuple[Reviewer, ...]: ...


@dataclass(frozen=True)
class RemoteBranch:
    """What the env's promotion branch on the remote looks like (None fields: absent)."""

    sha: str | None
    parent_is_main: bool = False
    overlay_text: str | None = None
    foreign_authors: tuple[str, ...] = ()  # authors or committers other than the bot
    hand_edit: str | None = None  # why its content is not what the bot wrote (None: it is)

    @property
    def human(self) -> bool:
        """Someone else wrote to it (whoever the commits name): the bot must not overwrite."""
        return self.sha is not None and (bool(self.foreign_authors) or self.hand_edit is not None)

    @property
    def whose(self) -> str:
        if self.foreign_authors:
            return f"has commits by {', '.join(self.foreign_authors)}"
        return f"was edited by hand ({self.hand_edit})"


@dataclass(frozen=True)
class RejectedPr:
    """A promotion PR a reviewer closed without merging, with the marker of its body."""

    number: int
    marker: dict[str, object]


@dataclass(frozen=True)
class PrAction:
    """What to do for one environment, with everything the writes need."""

    env: str
    kind: PrActionKind
    reason: str
    pr: OpenPr | None = None
    promotion: Promotion | None = None
    new_text: str | None = None
    title: str | None = None
    body: str | None = None
    add_labels: tuple[str, ...] = ()  # labels and review requests the open PR lacks
    request: tuple[Reviewer, ...] = ()
    merge: bool = False  # after the writes, automerge the open PR's head (`_merge_row`)


@dataclass(frozen=True)
class Asked:
    """What the policy asks of every promotion PR of the environment (`labels`, `reviewers`).

    `reviewed`: someone already submitted a review on the open PR (read only when it matters,
    see `may_lack_reviewers`)."""

    labels: tuple[str, ...] = ()
    reviewers: tuple[Reviewer, ...] = ()
    reviewed: bool = False


def may_lack_reviewers(pr: OpenPr, reviewers: Sequence[Reviewer]) -> bool:
    """True when none of `reviewers` is requested on `pr`: only then can the bot's request have
    been lost, and only then does the run read the PR's reviews (one GET) to tell a lost
    request from requests reviewers already answered."""
    requested = {r.key for r in pr.requested}
    return bool(reviewers) and not any(r.key in requested for r in reviewers)


def missing(pr: OpenPr, asked: Asked) -> tuple[tuple[str, ...], tuple[Reviewer, ...]]:
    """The labels and review requests of the policy that `pr` lacks.

    Labels compare case-insensitively (as on GitHub). Reviewers are asked for in ONE request,
    so a lost request (a 5xx, a killed run) leaves none of them requested; a reviewer who
    answered drops out of the requested ones on their own. So the bot asks again only when
    none of its reviewers is requested AND nobody reviewed yet: it never re-requests someone
    who already reviewed, nor one a person removed while others stay requested."""
    have = {label.lower() for label in pr.labels}
    labels = tuple(label for label in asked.labels if label.lower() not in have)
    lost = may_lack_reviewers(pr, asked.reviewers) and not asked.reviewed
    return labels, (asked.reviewers if lost else ())


_REPAIRABLE = {
    PrActionKind.HOLD,
    PrActionKind.NOOP,
    PrActionKind.UPDATE,
    PrActionKind.PUSH_UPDATE,
    PrActionKind.MERGE,
    PrActionKind.COMMENT_HUMAN,
    PrActionKind.COMMENT_CHECKS,
}


def with_repairs(action: PrAction, asked: Asked) -> PrAction:
    """`action`, also adding what its open PR lacks; a HOLD or NOOP that needs it is a REPAIR.

    A PR about to be closed is not repaired; a created one gets everything at creation."""
    if action.pr is None or action.kind not in _REPAIRABLE:
        return action
    labels, reviewers = missing(action.pr, asked)
    if not labels and not reviewers:
        return action
    what = [*(f"label {label}" for label in labels), *(f"review by {r}" for r in reviewers)]
    reason = f"{action.reason}; adding {', '.join(what)}"
    kind = PrActionKind.REPAIR if not action.kind.writes else action.kind
    return replace(action, kind=kind, reason=reason, add_labels=labels, request=reviewers)


def decide_pr_action(
    env_plan: EnvPlan,
    pr: OpenPr | None,
    branch: RemoteBranch,
    *,
    new_text: str | None,
    title: str | None,
    body: str | None,
    human_comment_posted: bool = False,
    automerge: bool = False,
    rejected: Sequence[RejectedPr] = (),
    asked: Asked = Asked(),
    checks: ChecksVerdict | None = None,
    checks_comment_posted: bool = False,
) -> PrAction:
    """`new_text`, `title`, `body`: the overlay and PR text the promotion would write; `asked`:
    the labels and reviewers an open PR must carry (`with_repairs`); `checks`: the verdict on
    the open PR head's checks (`bot.core.checks`, read only where automerge may follow)."""
    action = _table(
        env_plan, pr, branch, new_text=new_text, title=title, body=body,
        human_comment_posted=human_comment_posted, automerge=automerge, rejected=rejected,
        checks=checks, checks_comment_posted=checks_comment_posted,
    )  # fmt: skip
    return with_repairs(action, asked)


def _table(  # noqa: PLR0911 (a decision table: one early return per row)
    env_plan: EnvPlan,
    pr: OpenPr | None,
    branch: RemoteBranch,
    *,
    new_text: str | None,
    title: str | None,
    body: str | None,
    human_comment_posted: bool,
    automerge: bool,
    rejected: Sequence[RejectedPr],
    checks: ChecksVerdict | None,
    checks_comment_posted: bool,
) -> PrAction:
    env, kind = env_plan.env, PrActionKind
    promotion = env_plan.promotion
    if promotion is None:
        if env_plan.held is not None:
            return PrAction(env, kind.HOLD, "; ".join(env_plan.reasons), pr)
        if pr is not None:
            return PrAction(
                env, kind.CLOSE, "; ".join(env_plan.reasons) or "nothing to promote", pr
            )
        return PrAction(env, kind.NONE, "; ".join(env_plan.reasons))

    def act(what: PrActionKind, reason: str) -> PrAction:
        return PrAction(env, what, reason, pr, promotion, new_text, title, body)

    if branch.human:
        if pr is None:
            return PrAction(
                env, kind.NOOP, f"{branch_for(env)} {branch.whose} and no PR: leaving it "
                "(delete the branch to let the bot propose again)",
            )  # fmt: skip
        if human_comment_posted:
            return PrAction(env, kind.NOOP, "branch has human commits; already said so", pr)
        return act(kind.COMMENT_HUMAN, f"branch {branch.whose}: not overwriting")
    # a head pushed in this run never merges in it: its checks have not run yet
    pushed = f"{promotion.summary}{PUSHED_WAITS if automerge else ''}"
    if pr is None:
        for closed in rejected:  # a reviewer said no to exactly this: do not ask again
            if same_target(closed.marker, promotion):
                why = f"rejected in #{closed.number} (reopen it or register a newer candidate)"
                return PrAction(env, kind.HOLD, why)
        return act(kind.PUSH_CREATE, pushed)
    if not (branch.sha is not None and branch.parent_is_main and branch.overlay_text == new_text):
        return act(kind.PUSH_UPDATE, pushed)
    stale_text = pr.title != title or not same_body(pr.body, body or "")
    return _open_pr_rows(
        act(kind.UPDATE, "PR text is out of date"), stale_text=stale_text, automerge=automerge,
        checks=checks, posted=checks_comment_posted,
    )  # fmt: skip


def _open_pr_rows(
    update: PrAction,
    *,
    stale_text: bool,
    automerge: bool,
    checks: ChecksVerdict | None,
    posted: bool,
) -> PrAction:
    """The rows of an open PR that already proposes the promotion (`update`: its text brought
    up to date): the text, then, where automerge is allowed, its head's checks."""
    kind = PrActionKind
    if not automerge:
        return update if stale_text else PrAction(update.env, kind.NOOP, _PROPOSES, update.pr)
    # not merged yet: the checks were pending, failed, or the merge was refused
    what, reason = _merge_row(checks, posted)
    merge = what is kind.MERGE
    if stale_text:  # the head stays: it merges with its text brought up to date, if green
        return replace(update, reason=update.reason + ("" if merge else f"; {reason}"), merge=merge)
    if what.writes:
        return replace(update, kind=what, reason=reason, merge=merge)
    return PrAction(update.env, what, reason, update.pr)


_PROPOSES = "PR already proposes this"


#: What a push's reason adds where automerge is allowed: its head merges on a later run.
PUSHED_WAITS = "; automerge waits for the checks of the new head (a later run merges it)"


def _merge_row(checks: ChecksVerdict | None, posted: bool) -> tuple[PrActionKind, str]:
    """The automerge rows for a head pushed before this run: green merges, pending waits (no
    write), failed says so once. Unknown checks (None, not read) wait."""
    if checks is None:
        return PrActionKind.NOOP, "automerge waits: checks not read"
    if checks.verdict is Verdict.GREEN:
        return PrActionKind.MERGE, f"{_PROPOSES}; automerge allowed ({checks.detail})"
    if checks.verdict is Verdict.PENDING:  # try again next run
        return PrActionKind.NOOP, f"automerge waits: {checks.detail}"
    if posted:
        return PrActionKind.NOOP, f"automerge stopped: {checks.detail}; already said so"
    return PrActionKind.COMMENT_CHECKS, f"automerge stopped: {checks.detail}"


def reads_checks(env_plan: EnvPlan, pr: OpenPr | None, automerge: bool) -> bool:
    """True when the table may answer MERGE for the open PR: only then are its checks read."""
    return automerge and pr is not None and env_plan.promotion is not None


def could_create(env_plan: EnvPlan, pr: OpenPr | None, branch: RemoteBranch) -> bool:
    """True when the table may answer PUSH_CREATE: only then do rejected PRs matter."""
    return env_plan.promotion is not None and pr is None and not branch.human
