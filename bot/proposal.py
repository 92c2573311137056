"""What a command that proposes a change by pull request did (`hold`, `unhold`, `rollback`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ProposalOutcome:
    """`action`: `noop`, `push+create`, `push+update`, `close` (a proposal main already agrees
    with) or `push` (`rollback --direct`: committed to main, no PR); `reason`: one line for the
    operator; the PR, when there is one."""

    env: str
    action: str
    reason: str
    pr_number: int | None = None
    url: str | None = None

    @property
    def wrote(self) -> bool:
        return self.action != "noop"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
