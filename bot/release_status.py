"""The `promotion/release/<env>` status on each release ref's tip (issue 14, decision 36).

`confirm: release` counts an environment's soak from this status: the forge's time of the
commit status the nightly release posts on each commit it moves `release/<env>` to. The ref
moves first (a git push) and the status follows (a forge POST), so a forge 5xx or timeout in
between leaves a ref moved without its status; nothing else would post it, and an environment
soaking in that one with `confirm: release` would wait forever.

So the post is made sure of, never assumed: `ensure_release_status` looks (one GET) before
each post that might repeat one (a POST that failed with a 5xx may have been stored: the
adapters never repeat a POST blindly, `bot.adapters.github._NoBlindPostRetry`), posts only
what is missing, and tries a bounded number of times in the same run (tenacity); each later
nightly run does the same for the tip of every release ref another environment soaks in. A
status that exists is never posted again, so a run with nothing to repair writes nothing.

A status posted late carries the forge's time of the repair, not of the move: the soak it
starts begins later than the move did, which only ever delays a promotion (the safe side).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.core.confirm import release_context, release_ref
from bot.forge import CommitStatus, Forge, ForgeError, ForgeUnreachableError, StatusState

#: Posts tried per commit in one run (a look before each repeat); then the next run repairs.
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second try, doubled after


class Posted(StrEnum):
    PRESENT = "present"  # already there: nothing written
    POSTED = "posted"  # written in this run (or found stored after a failed POST)
    FAILED = "failed"  # not there and not written: the next run repairs it
    REFUSED = "refused"  # a tip the nightly release did not move there: never vouched for


@dataclass(frozen=True)
class StatusResult:
    env: str
    sha: str
    outcome: Posted
    message: str


def moved_description(env: str) -> str:
    return f"{release_ref(env)} moved here by the nightly release"


def repaired_description(env: str) -> str:
    """Says the time is the repair's: the ref got here earlier, the soak counts from now."""
    return f"{release_ref(env)} found here without this status: posted late by the nightly release"


def unvouched(env: str, sha: str, *, on_main: bool, tagged: bool) -> StatusResult | None:
    """Why the repair must not post `promotion/release/<env>` on the tip `sha`, or None. The
    status says the nightly release moved the ref there (`confirm: release` soaks from it),
    and each such move is a fast-forward to main pushed atomically with a `release-<env>-*`
    tag: a tip off main, or without its tag, was pushed by someone else."""
    if on_main and tagged:
        return None
    why = "is not on main" if not on_main else f"carries no release tag of {env}"
    message = (
        f"not posting {release_context(env)} on {sha[:12]}: {release_ref(env)}'s tip {why}, "
        "so the nightly release did not move it there (someone pushed it by hand)"
    )
    return StatusResult(env, sha, Posted.REFUSED, message)


def _transient(exc: BaseException) -> bool:
    """Worth another try: no answer, or a 5xx (a 4xx would be refused again)."""
    if isinstance(exc, ForgeUnreachableError):
        return True
    return isinstance(exc, ForgeError) and (exc.status is None or exc.status >= 500)


def has_release_status(forge: Forge, env: str, sha: str) -> bool:
    """Whether commit `sha` carries a success `promotion/release/<env>` (one listing)."""
    context = release_context(env)
    return any(
        s.context == context and s.state is StatusState.SUCCESS for s in forge.list_statuses(sha)
    )


def ensure_release_status(
    forge: Forge,
    env: str,
    sha: str,
    *,
    look_first: bool,
    late: bool = False,
    before_write: Callable[[], None] = lambda: None,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> StatusResult:
    """Make commit `sha` carry `promotion/release/<env>`: look first when it may already
    (`look_first`; a fresh move needs no look), and before every repeat of a failed post.
    `late`: the ref reached `sha` in an earlier run (the description says so). Failures are
    returned, never raised: the release itself stands."""
    description = repaired_description(env) if late else moved_description(env)
    status = CommitStatus(release_context(env), StatusState.SUCCESS, description)
    tried = 0

    def once() -> Posted:
        nonlocal tried
        if (look_first or tried) and has_release_status(forge, env, sha):
            return Posted.POSTED if tried else Posted.PRESENT
        tried += 1
        before_write()
        forge.create_status(sha, status)
        return Posted.POSTED

    retrying = Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=BACKOFF, max=8),
        reraise=True,
        sleep=sleep,
    )
    where = f"{release_context(env)} on {sha[:12]}"
    try:
        outcome = retrying(once)
    except ForgeError as exc:
        message = (
            f"could not post {where} ({exc}); the next release run posts it, and "
            f"`confirm: release` soak in {env} starts only then"
        )
        return StatusResult(env, sha, Posted.FAILED, message)
    if outcome is Posted.PRESENT:
        return StatusResult(env, sha, outcome, f"{where} already there")
    what = "posted late (soak counts from now)" if late else "posted"
    return StatusResult(env, sha, outcome, f"{where} {what}")
