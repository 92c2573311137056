"""Whether a PR head's checks let the bot automerge it: a pure verdict on what was reported.

The forge adapter reports the head's checks as `{context: state}` (the newest commit status per
context, and each check run mapped to `pending`, `success` or `failure`); this module judges:

- `required` named (`required_checks:` in promotion.yaml): each must be `success`; one not
  reported yet or `pending` waits; one `failure` or `error` stops the automerge. Other checks
  do not count, as with GitHub's required status checks.
- none named (no `required_checks:` key, `required` is None): every reported check counts the
  same way, and a head with none reported yet waits: CI may not have started, and "nothing
  reported" must never read as "all green".
- `required_checks: []` (an empty tuple): the policy says explicitly that no check is needed;
  the head is green whatever is reported (branch protection, where configured, still has the
  last word: a merge it refuses is reported and retried).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

FAILED_STATES = frozenset({"failure", "error"})


class Verdict(StrEnum):
    GREEN = "green"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class ChecksVerdict:
    verdict: Verdict
    detail: str  # what the reason and the comment say ("ci/build failed; waiting for lint")


def judge_checks(required: Sequence[str] | None, reported: Mapping[str, str]) -> ChecksVerdict:
    """The verdict on the head's `reported` checks (`{context: state}`) for `required` (None:
    none named, every reported one counts; empty: the policy requires none)."""
    if required is not None and not required:
        return ChecksVerdict(Verdict.GREEN, "no checks required (required_checks: [])")
    if required is None and not reported:
        return ChecksVerdict(Verdict.PENDING, "no checks reported yet")
    counted = {c: reported.get(c) for c in required} if required is not None else dict(reported)
    failed = sorted(c for c, state in counted.items() if state in FAILED_STATES)
    if failed:
        return ChecksVerdict(Verdict.FAILED, f"{', '.join(failed)} failed")
    waiting = sorted(c for c, state in counted.items() if state != "success")
    if waiting:
        return ChecksVerdict(Verdict.PENDING, f"waiting for {', '.join(waiting)}")
    return ChecksVerdict(Verdict.GREEN, f"{', '.join(sorted(counted))} passed")
