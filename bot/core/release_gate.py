"""Whether `release/<env>` may move to main now (issue 14.2-3): pure, stdlib only.

The nightly release asks this per environment (`bot.nightly.ReleaseGate` gathers the facts).
It waits for a freeze window open now, an active hold covering what moves, and, for an
environment after the first, for the previous environment to have confirmed what is new for
it for the soak (`bot.core.confirm.soak_verdict`, the forge's clock):

- its pins, when they move: the statuses of the commits of `release/<previous>` that pin them;
- what it renders besides its pins (base, patches, anything its overlay pulls in), when that
  changes (`Outside`): the statuses of the commits of `release/<previous>` that contain every
  such change (each change commit is an ancestor of the confirmed one). Both must hold.

A first release (no `release/<env>` yet) has no earlier render to compare with, so everything
the environment renders is new, unless its own cluster already confirmed running the pins
before it had its own ref (`own`: its controller's statuses on the commit the single legacy
`release` branch was last released at, whose overlay for the environment has exactly these
pins): then shipping them changes nothing the cluster runs, the pins need no soak elsewhere,
and only the changes outside the pins since that commit do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.confirm import ConfirmMode, Deployment, cite, confirmation, release_ref, soak_verdict


@dataclass(frozen=True)
class Outside:
    """What moving `release/<env>` to main changes besides the pins: `changes`, the commits
    that changed a file the overlay pulls in other than by its pins (newest first; the shell
    may cut the list it cites); `since`, what they are counted from (`release/<env>`'s tip, or
    the commit the legacy `release` branch was at, or None: everything, a first release);
    `deployment`, the statuses of the commits of `release/<previous>` containing them all."""

    changes: tuple[str, ...]
    since: str | None = None
    deployment: Deployment | None = None

    def describe(self) -> str:
        if self.since is None or not self.changes:
            return "everything it renders (a first release)"
        count, newest = len(self.changes), self.changes[0][:12]
        return f"{count} change(s) outside the pins since {self.since[:12]}, newest {newest}"


def own_confirmation(env: str, own: Deployment | None) -> str | None:
    """The release note when `env`'s own cluster confirmed running the pins to ship (its
    controller's statuses, success with no failure since), or None when it did not."""
    if own is None:
        return None
    found = confirmation(env, own, ConfirmMode.COMMIT_STATUS)
    if not found.confirmed or found.evidence is None:
        return None
    return (
        f"first {release_ref(env)}: {env}'s own cluster already runs these pins "
        f"({cite(found.evidence)})"
    )


def release_blocker(
    *,
    env: str,
    previous: str | None,
    frozen: tuple[str, datetime] | None,
    hold: str | None,
    moves: bool,
    soak: timedelta,
    mode: ConfirmMode,
    deployment: Deployment | None,
    now: datetime,
    outside: Outside | None = None,
    own: Deployment | None = None,
) -> str | None:
    """Why `release/<env>` may not move to main now, or None: a freeze window open now
    (`frozen`: its label and end, in the environment's zone), an active hold covering what
    moves (`hold`: its description), pins that move (`moves`) without the previous
    environment having confirmed them for the soak (`deployment`: of the pins on main; not
    needed when `own` shows the environment's own cluster runs them, `own_confirmation`), or
    changes outside the pins (`outside`) it has not confirmed a commit containing for the
    soak. Every unmet soak is named, each with its time when it is eligible."""
    if frozen is not None:
        label, end = frozen
        return f"{env} is frozen: window {label!r} open until {end.isoformat()}"
    if hold is not None:
        return f"{env} is held: {hold}"
    if previous is None:
        return None
    waits = []
    if moves and own_confirmation(env, own) is None:
        verdict = soak_verdict(previous, deployment, soak=soak, mode=mode, now=now)
        if not verdict.soaked:
            waits.append(f"soak in {previous}: {verdict.detail}")
    if outside is not None and (outside.changes or outside.since is None):
        verdict = soak_verdict(
            previous, outside.deployment, soak=soak, mode=mode, now=now, subject="them"
        )
        if not verdict.soaked:
            waits.append(f"soak in {previous} of {outside.describe()}: {verdict.detail}")
    return "; ".join(waits) or None
