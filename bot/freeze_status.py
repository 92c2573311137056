"""Freezes at merge too (issue 14.4): a promotion PR for a frozen environment carries a failing
`promotion/freeze` commit status on its head, `success` once the window closed.

Make `promotion/freeze` a required status check of `main` (branch protection) and a person
cannot merge a promotion into a frozen environment either; the bot itself never automerges a
held promotion (the freeze gate holds it). Written only when the head's newest such status has
another state: a run with nothing new writes nothing. Only environments with freeze windows
are looked at, so a policy without windows costs no request.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.confirm import FREEZE_CONTEXT, freeze_status
from bot.core.policy import PromotionPolicy
from bot.core.pr_action import BRANCH_PREFIX, branch_for
from bot.forge import CommitStatus, Forge, StatusState


def sync_freeze_statuses(
    forge: Forge, policy: PromotionPolicy, base: str, now: datetime
) -> list[str]:
    """Set `promotion/freeze` on each open promotion PR of an environment with freeze windows
    where it changed; returns what was written (`env: state`)."""
    envs = [env for env in policy.environments if env.freeze_windows]
    if not envs:
        return []
    prs = forge.open_prs(base, BRANCH_PREFIX)
    written = []
    for env in envs:
        pr = prs.get(branch_for(env.name))
        if pr is None:
            continue
        frozen = env.frozen_until(now)
        state, description = freeze_status((frozen[0].label, frozen[1]) if frozen else None)
        newest = next(
            (s for s in forge.list_statuses(pr.head_sha) if s.context == FREEZE_CONTEXT), None
        )
        if newest is not None and newest.state.value == state:
            continue
        forge.create_status(
            pr.head_sha, CommitStatus(FREEZE_CONTEXT, StatusState(state), description)
        )
        written.append(f"{env.name}: {state}")
    return written
