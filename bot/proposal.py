"""What a command that proposes a change by pull request did (`hold`, `unhold`, `rollback`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class ProposalAction(StrEnum):
    """What the command did (the value is what the CLI and `--json` print)."""

    NOOP = "noop"  # already proposed as is, or main already agrees
    PUSH_CREATE = "push+create"  # pushed the branch, opened the PR
    PUSH_UPDATE = "push+update"  # rebuilt the branch, updated the PR
    CLOSE = "close"  # closed a proposal main already agrees with
    PUSH = "push"  # `rollback --direct`: committed to main, no PR

    @property
    def wrote(self) -> bool:
        return self is not ProposalAction.NOOP


@dataclass(frozen=True)
class ProposalOutcome:
    """`action`: what was done; `reason`: one line for the operator; the PR, when there is
    one."""

    env: str
    action: ProposalAction
    reason: str
    pr_number: int | None = None
    url: str | None = None

    @property
    def wrote(self) -> bool:
        return self.action.wrote

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "action": self.action.value}
